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


def status_function() -> tuple[str, Callable[[Any], object]]:
    """The call that lists a table's partitions for the status command, and its name."""
    return "list_partitions", list_partitions


def _premake(model: Any, first: datetime.date) -> float:
    """Seconds to premake ``PREMAKE_DAYS`` days from ``first``; the new tables are dropped."""
    last = first + datetime.timedelta(days=PREMAKE_DAYS - 1)
    created: list[str] = []
    seconds = timed(lambda: created.extend(create_day_partitions(model, first, last)))
    with connection.cursor() as cursor:
        for name in created:
            cursor.execute(sql.SQL("DROP TABLE {}").format(
                sql.Identifier(*name.split("."))).as_string(connection.connection))
    return seconds


def run(run: Run) -> list[Result]:
    """Time premaking and listing on both tables of the shared catalog."""
    catalog.ensure(run)
    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    counts = {m: len(list_partitions(m)) for m in (live, archive)}
    name, status = status_function()
    first = utc_today() + datetime.timedelta(days=1000)
    premake: dict[Any, list[float]] = {live: [], archive: []}
    listing: dict[Any, list[float]] = {live: [], archive: []}
    for _ in range(run.repeat):
        for model in (live, archive):
            premake[model].append(_premake(model, first) * 1000)
            listing[model].append(timed(lambda model=model: status(model)) * 1000)
    baseline = f"live table, {counts[live]:,} partitions"
    return [
        Result(NAME, f"premake {PREMAKE_DAYS} days, {counts[archive]:,} partitions",
               median(premake[archive]), "ms", baseline, median(premake[live]),
               median_ratio(premake[archive], premake[live])),
        Result(NAME, f"list status ({name}), {counts[archive]:,} partitions",
               median(listing[archive]), "ms", baseline, median(listing[live]),
               median_ratio(listing[archive], listing[live])),
    ]
