"""Scenario "memory": peak memory of archiving and of status listing, small day vs big day.

Each call runs in a fresh subprocess (``bench.probe``) so its peak is its
own: the Python peak from tracemalloc and the process's maximum resident
size. The same calls are made with a 10k-row day and with a 1M-row day; the
ratio shows whether memory grows with the number of rows (the original
package loaded every row of the archived range into memory).
"""

from __future__ import annotations

import datetime
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from audit_events.models import get_audit_event_model
from audit_events.partitions import utc_today
from bench import archive, data
from bench.measure import Result, skipped
from bench.run import Run

NAME = "memory"
_ROOT = Path(__file__).resolve().parent.parent
_MIB = 1024 * 1024


def _probe(url: str, action: str, *args: str) -> dict[str, float]:
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(_ROOT), os.environ.get("PYTHONPATH")])),
    }
    result = subprocess.run(
        [sys.executable, "-m", "bench.probe", action, url, *args],
        capture_output=True,
        text=True,
        cwd=_ROOT,
        env=env,
        check=False,
    )
    if result.returncode != 0:
        raise RuntimeError(f"bench.probe {action} failed:\n{result.stderr}")
    values: dict[str, float] = json.loads(result.stdout.strip().splitlines()[-1])
    return values


def _results(
    what: str, small: dict[str, float], big: dict[str, float], sizes: tuple[int, int]
) -> list[Result]:
    out = []
    for key, label in (
        ("python_peak", "Python peak (tracemalloc)"),
        ("max_rss", "process max RSS"),
    ):
        ratio = big[key] / small[key]
        out.append(
            Result(
                NAME,
                f"{what}: {label}, {sizes[1]:,}-row day",
                big[key] / _MIB,
                "MiB",
                f"same, {sizes[0]:,}-row day",
                small[key] / _MIB,
                ratio,
                "no growth (≤ 1.2x)",
                ratio <= 1.2,
            )
        )
    return out


def run(run: Run) -> list[Result]:
    """Probe status listing and archiving with a small day, then with a big one."""
    url = run.fresh_database(NAME)
    sizes = (run.size(1_000, 10_000), run.size(30_000, 1_000_000))
    days = [utc_today() - datetime.timedelta(days=3000 - 10 * i) for i in range(2)]
    available = archive.lifecycle_available()
    probes: dict[str, list[dict[str, Any]]] = {"status": [], "archive": []}
    for rows, day in zip(sizes, days, strict=True):
        data.fill_day(get_audit_event_model(), day, rows)
        probes["status"].append(_probe(url, "status"))
        if available:
            probes["archive"].append(_probe(url, "archive", day.isoformat()))
    results = _results("status listing", *probes["status"], sizes)
    if not available:
        return [*results, skipped(NAME, "archive: peak memory", "lifecycle not available")]
    return [*results, *_results("archive", *probes["archive"], sizes)]
