"""Scenario "archive": moving one day to the archive, detach+attach against copy+delete.

On identical generated days of 10k, 100k and 1M rows, our archive as users run
it (``call_command("archive_audit_events", "--older-than", N)``, default
settings: detach the day's partition, attach it to the archive table, no row
copied or read) is timed against the original
package's method done as well as SQL allows: ``INSERT ... SELECT`` into the
archive and ``DELETE`` from the live table, in one transaction (the original
did it row by row through the ORM, far slower still). While each day is
archived, a writer inserts events into today's partition without pause (so
every size is measured under the same load); the slowest insert overlapping
the archives of the largest day is reported beside the slowest insert of the
writer's idle lead-in.

The seal of each archived day (``audit_events_day_digest``, what rotation
computes once when a day closes) is timed per million rows beside the digest
this project shipped before (``bench/legacy_day_digest.sql``), on the same day
in the same repetition.
"""

from __future__ import annotations

import datetime
import importlib.util
import io
import threading
import time
from collections.abc import Callable
from pathlib import Path

import psycopg
from django.db import connection
from psycopg import sql

from audit_events.guard import allow_changes
from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.partitions import create_day_partitions, day_bounds, list_partitions, utc_today
from bench import data
from bench.measure import Result, median, median_ratio, skipped
from bench.run import Run

NAME = "archive"
_UNAVAILABLE = "lifecycle not available"


def lifecycle_available() -> bool:
    """Whether ``audit_events.lifecycle.archive_older_than`` exists in this checkout."""
    if importlib.util.find_spec("audit_events.lifecycle") is None:
        return False
    from audit_events import lifecycle

    return hasattr(lifecycle, "archive_older_than")


def archive_day(day: datetime.date, using: str = "default") -> None:
    """Archive exactly ``day`` the way users do: ``manage.py archive_audit_events``.

    The benchmark keeps every other live old day newer than ``day`` (and the
    older ones are archived already), so ``--older-than`` the number of days
    between ``day`` and today, less one, selects this day alone.

    Raises:
        RuntimeError: the day did not end up attached to the archive table.
    """
    archive_command(day, using)
    if day not in {p.day for p in list_partitions(get_audit_event_archive_model(), using)}:
        raise RuntimeError(f"archive_audit_events did not archive {day}")


def archive_command(day: datetime.date, using: str = "default") -> None:
    """``manage.py archive_audit_events --older-than N`` with N selecting ``day`` (see above)."""
    from django.core.management import call_command

    older_than = (utc_today() - day).days - 1
    call_command(
        "archive_audit_events",
        "--older-than",
        str(older_than),
        "--database",
        using,
        stdout=io.StringIO(),
    )


def copy_archive(day: datetime.date) -> None:
    """The original package's method, set-based: copy the day's rows, then delete them."""
    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    columns = sql.SQL(", ").join([sql.Identifier(c) for c in data.COLUMNS])
    copy = sql.SQL("INSERT INTO {} ({}) SELECT {} FROM {} WHERE timestamp >= %s AND timestamp < %s")
    delete = sql.SQL("DELETE FROM {} WHERE timestamp >= %s AND timestamp < %s")
    bounds = list(day_bounds(day))
    # The original package had no append-only trigger: switch triggers off for this
    # transaction (session_replication_role = replica; the benchmark runs as a
    # superuser) so that the baseline is not slowed by our guard firing per row.
    with allow_changes(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            copy.format(
                sql.Identifier(archive._meta.db_table),
                columns,
                columns,
                sql.Identifier(live._meta.db_table),
            ).as_string(connection.connection),
            bounds,
        )
        cursor.execute(
            delete.format(sql.Identifier(live._meta.db_table)).as_string(connection.connection),
            bounds,
        )


class ConcurrentWriter:
    """A thread inserting one event at a time into today's partition, timing each insert."""

    def __init__(self, url: str, content_type_id: int) -> None:
        self.url = url
        self.content_type_id = content_type_id
        self.spans: list[tuple[float, float]] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._write, daemon=True)
        table = sql.Identifier(get_audit_event_model()._meta.db_table)
        self.statement = sql.SQL(
            "INSERT INTO {} ({}) VALUES (audit_events_uuid7(now()), now(), NULL, '', NULL, '', "
            "'{{}}', "
            "'{{}}', '{{}}', %s, '1', '{{}}')"
        ).format(table, sql.SQL(", ").join([sql.Identifier(c) for c in data.COLUMNS]))

    def _write(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            while not self._stop.is_set():
                start = time.perf_counter()
                conn.execute(self.statement, [self.content_type_id])
                self.spans.append((start, time.perf_counter()))

    def __enter__(self) -> ConcurrentWriter:
        self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._stop.set()
        self._thread.join()

    def worst_ms(self, start: float, end: float) -> float:
        """The slowest insert (ms) that overlapped ``[start, end]``."""
        overlapping = [b - a for a, b in self.spans if a <= end and b >= start]
        return max(overlapping, default=0.0) * 1000


def _watched(url: str, work: Callable[[], object]) -> tuple[float, float, float]:
    """Run ``work`` while a writer inserts: (seconds, worst insert ms, worst idle insert ms)."""
    with ConcurrentWriter(url, data.content_type_id()) as writer:
        lead_in = time.perf_counter()
        time.sleep(0.3)
        start = time.perf_counter()
        work()
        end = time.perf_counter()
        time.sleep(0.05)
    return end - start, writer.worst_ms(start, end), writer.worst_ms(lead_in, start)


class _Days:
    """Hands out old days: every "ours" day is older than every "copy" day."""

    def __init__(self) -> None:
        self.ours = utc_today() - datetime.timedelta(days=3000)
        self.copy = self.ours + datetime.timedelta(days=1500)

    def next(self) -> tuple[datetime.date, datetime.date]:
        pair = (self.ours, self.copy)
        self.ours += datetime.timedelta(days=3)
        self.copy += datetime.timedelta(days=3)
        return pair


def _one_size(
    run: Run, days: _Days, rows: int, url: str, available: bool
) -> dict[str, list[float]]:
    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    series: dict[str, list[float]] = {
        k: [] for k in ("ours", "copy", "ours_wait", "copy_wait", "idle_wait", "seal", "legacy")
    }
    for _ in range(run.repeat if rows < 1_000_000 else min(run.repeat, 3)):
        ours_day, copy_day = days.next()
        steps: list[tuple[str, Callable[[], object]]] = [
            ("copy", lambda d=copy_day: copy_archive(d))
        ]
        if available:
            steps.insert(0, ("ours", lambda d=ours_day: archive_day(d)))
        for key, work in steps:
            # Each day is generated just before it is archived, so that the live
            # table holds the same other data whichever method runs.
            day = ours_day if key == "ours" else copy_day
            data.fill_day(live, day, rows)
            if key == "copy":
                create_day_partitions(archive, day, day)
            seconds, worst, idle = _watched(url, work)
            series[key].append(seconds)
            series[f"{key}_wait"].append(worst)
            series["idle_wait"].append(idle)
            if key == "ours":
                seal, legacy = _digest_seconds(day, rows)
                series["seal"].append(seal)
                series["legacy"].append(legacy)
    return series


def _digest_seconds(day: datetime.date, rows: int) -> tuple[float, float]:
    """Seconds per million rows of the seal's digest and of the legacy digest of ``day``."""
    table = connection.ops.quote_name(get_audit_event_archive_model()._meta.db_table)
    per_million = 1_000_000 / rows
    seconds = []
    with connection.cursor() as cursor:
        for function in ("audit_events_day_digest", "bench_legacy_day_digest"):
            query = sql.SQL("SELECT row_count FROM {}(%s::regclass, %s)").format(
                sql.Identifier(function)
            )
            start = time.perf_counter()
            cursor.execute(query.as_string(connection.connection), [table, day])
            seconds.append((time.perf_counter() - start) * per_million)
            if cursor.fetchone()[0] != rows:
                raise RuntimeError(f"{function} did not count the {rows} rows of {day}")
    return seconds[0], seconds[1]


def _install_legacy_digest() -> None:
    with connection.cursor() as cursor:
        cursor.execute((Path(__file__).parent / "legacy_day_digest.sql").read_text())


def _size_results(rows: int, s: dict[str, list[float]]) -> list[Result]:
    label = f"archive one {rows:,}-row day"
    copy_ms = median(s["copy"]) * 1000
    if not s["ours"]:
        return [
            Result(
                NAME,
                f"{label}: detach+attach",
                None,
                "ms",
                "copy+delete",
                copy_ms,
                note=f"skipped: {_UNAVAILABLE}",
            )
        ]
    speedup = median_ratio(s["copy"], s["ours"])
    big = rows >= 1_000_000
    return [
        Result(
            NAME,
            f"{label}: manage.py archive_audit_events",
            median(s["ours"]) * 1000,
            "ms",
            "copy+delete (INSERT…SELECT, DELETE)",
            copy_ms,
            speedup,
            "≥ 100x faster" if big else "",
            speedup >= 100 if big else None,
            ratio_kind="speedup",
        ),
        Result(
            NAME,
            f"seal of a {rows:,}-row day (digest, at day close; per million rows)",
            median(s["seal"]),
            "s",
            "the digest shipped before (per million rows)",
            median(s["legacy"]),
            median_ratio(s["legacy"], s["seal"]),
            "≥ 3x faster" if big else "",
            median_ratio(s["legacy"], s["seal"]) >= 3 if big else None,
            ratio_kind="speedup",
        ),
    ]


def _scaling(sizes: list[int], by_size: dict[int, dict[str, list[float]]]) -> list[Result]:
    small, big = by_size[sizes[0]]["ours"], by_size[sizes[-1]]["ours"]
    if not small:
        return []
    pairs = min(len(small), len(big))
    ratio = median_ratio(big[:pairs], small[:pairs])
    return [
        Result(
            NAME,
            f"archive_audit_events: {sizes[-1]:,}-row day vs {sizes[0]:,}-row day",
            median(big) * 1000,
            "ms",
            f"ours, {sizes[0]:,}-row day",
            median(small) * 1000,
            ratio,
            "≤ 3x",
            ratio <= 3,
        )
    ]


def _waits(rows: int, s: dict[str, list[float]]) -> list[Result]:
    idle = max(s["idle_wait"])
    results = [
        Result(
            NAME,
            f"worst concurrent insert during copy+delete ({rows:,} rows)",
            max(s["copy_wait"]),
            "ms",
            "worst insert, writer alone",
            idle,
        )
    ]
    if s["ours"]:
        worst = max(s["ours_wait"])
        results.insert(
            0,
            Result(
                NAME,
                f"worst concurrent insert during detach+attach ({rows:,} rows)",
                worst,
                "ms",
                "worst insert, writer alone",
                idle,
                target="≤ 100 ms",
                met=worst <= 100,
            ),
        )
    else:
        results.insert(
            0, skipped(NAME, "worst concurrent insert during detach+attach", _UNAVAILABLE)
        )
    return results


def run(run: Run) -> list[Result]:
    """Archive generated days of each size both ways in a fresh database."""
    url = run.fresh_database(NAME)
    available = lifecycle_available()
    _install_legacy_digest()
    sizes = [run.size(1_000, 10_000), run.size(10_000, 100_000), run.size(30_000, 1_000_000)]
    days = _Days()
    by_size: dict[int, dict[str, list[float]]] = {}
    for rows in sizes:
        # Every size runs with the writer, so that sizes are compared under the same load.
        by_size[rows] = _one_size(run, days, rows, url, available)
    results = [r for rows in sizes for r in _size_results(rows, by_size[rows])]
    return [*results, *_scaling(sizes, by_size), *_waits(sizes[-1], by_size[sizes[-1]])]
