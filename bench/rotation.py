"""Scenario "rotation": premaking 30 days and listing partitions, at ~1,000 partitions.

Both are timed on the archive table of the shared catalog (~1,000
partitions) against the same work on its live table (~100 partitions), so
the ratio shows how the cost grows with the number of partitions. Premade
days are dropped again after each repetition (untimed), so every repetition
starts from the same catalog.
"""

from __future__ import annotations

import datetime
from collections.abc import Callable
from typing import Any

from django.db import connection
from psycopg import sql

from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.partitions import create_day_partitions, list_partitions, utc_today
from bench import catalog
from bench.measure import Result, median, median_ratio, timed
from bench.run import Run

NAME = "rotation"
PREMAKE_DAYS = 30


def status_function() -> tuple[str, Callable[[], object]]:
    """The call behind the status command (both tables, all partitions), and its name.

    ``audit_events.lifecycle.partition_status`` when the lifecycle module is
    there; before that, ``list_partitions`` of both tables.
    """
    try:
        from audit_events.lifecycle import partition_status
    except ImportError:
        models = (get_audit_event_model(), get_audit_event_archive_model())
        return "list_partitions", lambda: [list_partitions(m) for m in models]
    return "partition_status", partition_status


def _premake(model: Any, first: datetime.date) -> float:
    """Seconds to premake ``PREMAKE_DAYS`` days from ``first``; the new tables are dropped."""
    last = first + datetime.timedelta(days=PREMAKE_DAYS - 1)
    created: list[str] = []
    seconds = timed(lambda: created.extend(create_day_partitions(model, first, last)))
    with connection.cursor() as cursor:
        for name in created:
            cursor.execute(
                sql.SQL("DROP TABLE {}")
                .format(sql.Identifier(*name.split(".")))
                .as_string(connection.connection)
            )
    return seconds


def _status_ms(run: Run) -> list[float]:
    status = status_function()[1]
    status()  # the first call loads the catalog caches
    return [timed(status) * 1000 for _ in range(run.repeat)]


def run(run: Run) -> list[Result]:
    """Time premaking and status listing in the shared catalog, and in a fresh database."""
    catalog.ensure(run)
    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    counts = {m: len(list_partitions(m)) for m in (live, archive)}
    first = utc_today() + datetime.timedelta(days=1000)
    premake: dict[Any, list[float]] = {live: [], archive: []}
    for _ in range(run.repeat):
        for model in (live, archive):
            premake[model].append(_premake(model, first) * 1000)
    big = _status_ms(run)
    run.fresh_database(f"{NAME}_fresh")
    fresh = sum(len(list_partitions(m)) for m in (live, archive))
    small = _status_ms(run)
    name = status_function()[0]
    return [
        Result(
            NAME,
            f"premake {PREMAKE_DAYS} days, {counts[archive]:,} partitions",
            median(premake[archive]),
            "ms",
            f"live table, {counts[live]:,} partitions",
            median(premake[live]),
            median_ratio(premake[archive], premake[live]),
        ),
        Result(
            NAME,
            f"status listing ({name}), {sum(counts.values()):,} partitions",
            median(big),
            "ms",
            f"fresh database, {fresh} partitions",
            median(small),
            median(big) / median(small),
        ),
    ]
