"""Timing helpers and the result rows every scenario returns.

The machines this runs on are shared and noisy, so no figure stands alone:
each measurement is repeated, its median is reported, and it sits beside a
baseline measured in the same run (usually in the same repetition, back to
back). Ratios are the median of the per-repetition ratios.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Result", "median", "median_ratio", "skipped", "timed"]


@dataclass(frozen=True)
class Result:
    """One line of the results table: a measurement beside its baseline.

    ``ours`` and ``baseline`` are in ``unit``; ``ratio`` is ours / baseline
    (median of per-repetition ratios where the two were measured together).
    ``met`` is None when the line has no target.
    """

    scenario: str
    measure: str
    ours: float | None
    unit: str
    baseline_label: str = ""
    baseline: float | None = None
    ratio: float | None = None
    target: str = ""
    met: bool | None = None
    note: str = ""
    #: "ours/baseline" (slower is bigger) or "speedup" (baseline/ours, "x faster").
    ratio_kind: str = "ours/baseline"


def skipped(scenario: str, measure: str, why: str) -> Result:
    """A line saying a measurement did not run, and why."""
    return Result(scenario, measure, None, "", note=f"skipped: {why}")


def timed(work: Callable[[], object]) -> float:
    """Seconds ``work()`` took (wall clock)."""
    start = time.perf_counter()
    work()
    return time.perf_counter() - start


def median(values: list[float]) -> float:
    """The median of ``values``."""
    return float(statistics.median(values))


def median_ratio(ours: list[float], baseline: list[float]) -> float:
    """The median of the per-repetition ratios ``ours[i] / baseline[i]``."""
    return median([a / b for a, b in zip(ours, baseline, strict=True) if b > 0])
