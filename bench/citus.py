"""Scenario "citus": the same archive and writes on a local Citus cluster.

A coordinator and two workers (``audit_events.testing.citus.CitusCluster``)
are started for the scenario; the default event tables are migrated on the
coordinator and distributed by ``object_id`` (``DistributeByColumn``'s
statements), colocated. On that one cluster, in the same run:

* archive of a generated day by moving its partition (plain DETACH + ATTACH in
  one transaction, shard tables kept on the workers) against copy + delete
  between the same distributed tables;
* the write stall a new day's ATTACH causes (Citus takes SHARE ROW EXCLUSIVE
  on every index of every partition of the live parent while it renames the new
  shards' indexes): the slowest insert overlapping the ATTACH, beside the
  slowest insert of the writer's idle lead-in;
* ``create_event`` through the coordinator against a raw ``INSERT`` of the same
  row through it (the write scenario's measurement, on the cluster).

Skipped, with the reason, when Citus is not installed.
"""

from __future__ import annotations

import datetime
import time

from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.partitions import create_day_partitions, list_partitions, utc_today
from audit_events.testing.citus import CitusCluster, citus_missing_reason
from bench import archive, data, write
from bench.db import configure_django, migrate
from bench.measure import Result, median, median_ratio, skipped
from bench.run import Run

NAME = "citus"
#: AUDIT_LOCK_TIMEOUT_MS for the scenario's maintenance (see run()).
LOCK_TIMEOUT_MS = 10_000


def _distribute() -> None:
    from django.db import connection, transaction

    from audit_events.distribution import distribute_statements

    live, archive_model = get_audit_event_model(), get_audit_event_archive_model()
    # One transaction, as DistributeByColumn runs in a migration's.
    with transaction.atomic(), connection.cursor() as cursor:
        for statement in distribute_statements(live, archive_model, "object_id"):
            cursor.execute(statement.as_string(connection.connection))


def _archive(run: Run, url: str) -> list[Result]:
    rows = run.size(100_000, 1_000_000)
    live, archive_model = get_audit_event_model(), get_audit_event_archive_model()
    ours, copy, ours_wait, copy_wait, idle = [], [], [], [], []
    day = utc_today() - datetime.timedelta(days=3000)
    for _ in range(run.size(2, 2)):
        ours_day, copy_day = day, day + datetime.timedelta(days=1500)
        day += datetime.timedelta(days=3)
        data.fill_day(live, ours_day, rows)
        seconds, worst, lead = archive._watched(url, lambda d=ours_day: archive.archive_command(d))
        if ours_day not in {p.day for p in list_partitions(archive_model)}:
            raise RuntimeError(f"archive_audit_events did not archive {ours_day}")
        ours.append(seconds)
        ours_wait.append(worst)
        idle.append(lead)
        data.fill_day(live, copy_day, rows)
        create_day_partitions(archive_model, copy_day, copy_day)
        seconds, worst, lead = archive._watched(url, lambda d=copy_day: archive.copy_archive(d))
        copy.append(seconds)
        copy_wait.append(worst)
    speedup = median_ratio(copy, ours)
    label = f"archive one {rows:,}-row day on Citus"
    return [
        Result(
            NAME,
            f"{label}: detach+attach (one transaction)",
            median(ours) * 1000,
            "ms",
            "copy+delete, same cluster",
            median(copy) * 1000,
            speedup,
            "≥ 100x",
            speedup >= 100,
            ratio_kind="speedup",
        ),
        Result(
            NAME,
            f"{label}: slowest concurrent insert, detach+attach",
            median(ours_wait),
            "ms",
            "writer idle",
            median(idle),
            median_ratio(ours_wait, idle),
            note=f"copy+delete: slowest insert {median(copy_wait):.0f} ms",
        ),
    ]


def _attach_stall(run: Run, url: str) -> list[Result]:
    live = get_audit_event_model()
    stalls, idle, seconds = [], [], []
    day = utc_today() + datetime.timedelta(days=400)
    for _ in range(run.repeat):
        day += datetime.timedelta(days=1)
        took, worst, lead = archive._watched(url, lambda d=day: create_day_partitions(live, d, d))
        seconds.append(took)
        stalls.append(worst)
        idle.append(lead)
    live_days = len(list_partitions(live))
    return [
        Result(
            NAME,
            "new day's ATTACH on Citus: slowest concurrent insert",
            median(stalls),
            "ms",
            "writer idle",
            median(idle),
            median_ratio(stalls, idle),
            note=f"the ATTACH took {median(seconds) * 1000:.0f} ms; {live_days} live days",
        )
    ]


def _archive_growth(run: Run) -> list[Result]:
    """``archive_audit_events`` of one small day, as the archive grows (empty days added)."""
    live, archive_model = get_audit_event_model(), get_audit_event_archive_model()
    day = utc_today() - datetime.timedelta(days=6000)
    added = utc_today() - datetime.timedelta(days=9000)

    def moves() -> list[float]:
        nonlocal day
        times = []
        for _ in range(run.repeat + 1):  # the first run also records the added days
            day += datetime.timedelta(days=1)
            data.fill_day(live, day, 1000)
            times.append(_timed_archive(day))
        return times[1:]

    sizes = [len(list_partitions(archive_model))]
    timings = [moves()]
    for _ in range(2):
        count = run.size(30, 180)
        create_day_partitions(archive_model, added, added + datetime.timedelta(days=count - 1))
        added += datetime.timedelta(days=count)
        sizes.append(len(list_partitions(archive_model)))
        timings.append(moves())
    few = median(timings[0])
    return [
        Result(
            NAME,
            f"archive_audit_events of a 1,000-row day, archive of {size} days",
            median(times) * 1000,
            "ms",
            f"same with {sizes[0]} archive days",
            few * 1000,
            median(times) / few,
            note="archive parent without indexes",
        )
        for size, times in zip(sizes[1:], timings[1:], strict=True)
    ]


def _timed_archive(day: datetime.date) -> float:
    """Seconds of the command alone; that it archived the day is checked after."""
    start = time.perf_counter()
    archive.archive_command(day)
    seconds = time.perf_counter() - start
    if day not in {p.day for p in list_partitions(get_audit_event_archive_model())}:
        raise RuntimeError(f"archive_audit_events did not archive {day}")
    return seconds


def _writes(run: Run) -> list[Result]:
    from django.contrib.auth import get_user_model

    user = get_user_model().objects.create(username=f"citus-bench-{time.monotonic_ns()}")
    results = write._per_event(run, get_audit_event_model(), user)
    api = results[0]
    return [
        Result(
            NAME,
            f"{api.measure} through the coordinator",
            api.ours,
            api.unit,
            "raw INSERT through it",
            api.baseline,
            api.ratio,
            api.target,
            api.met,
        )
    ]


def run(run: Run) -> list[Result]:
    """Start a 3-node cluster, measure, stop it."""
    reason = citus_missing_reason()
    if reason:
        return [skipped(NAME, "Citus scenario", reason)]
    from django.test import override_settings

    with CitusCluster(dbname="audit_events_bench", shard_count=8) as cluster:
        configure_django(cluster.url)
        migrate()
        _distribute()
        # On Citus the timeout bounds each whole DDL statement, not only its lock
        # wait (docs/scaling.md); a loaded 2-core machine needs more than 2 s.
        try:
            with override_settings(AUDIT_LOCK_TIMEOUT_MS=LOCK_TIMEOUT_MS):
                return [
                    *_writes(run),
                    *_attach_stall(run, cluster.url),
                    *_archive(run, cluster.url),
                    *_archive_growth(run),
                ]
        finally:
            from django.db import connections

            connections.close_all()
            configure_django(run.server.url_for(run.server.template))
