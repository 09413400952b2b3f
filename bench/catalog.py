"""A database with years of partitions, shared by the "queries" and "rotation" scenarios.

About 100 live days (up to today, plus the premade ones) and 1,000 archive
days, a few rows in each, and the same rows once more in one plain,
unpartitioned table with the same indexes (the baseline for queries).
Partitions are made with the shipped SQL function, 100 days per transaction
so that no transaction needs thousands of locks.
"""

from __future__ import annotations

import datetime
from dataclasses import dataclass

from django.db import connection
from psycopg import sql

from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.partitions import utc_today
from bench import data
from bench.run import Run

__all__ = ["PLAIN_TABLE", "Catalog", "ensure"]

PLAIN_TABLE = "bench_plain_events"
OBJECTS = 50
USERS = 20


@dataclass(frozen=True)
class Catalog:
    """Where the shared database is and which days each table covers."""

    url: str
    live_first: datetime.date
    archive_first: datetime.date
    archive_last: datetime.date

    @property
    def archive_middle(self) -> datetime.date:
        return self.archive_first + (self.archive_last - self.archive_first) // 2


def ensure(run: Run) -> Catalog:
    """The shared catalog database, built on first use; made current for Django."""
    catalog: Catalog | None = run.shared.get("catalog")
    if catalog is not None:
        run.use_database(catalog.url)
        return catalog
    url = run.fresh_database("catalog")
    today = utc_today()
    live_days, archive_days = run.size(30, 100), run.size(100, 1000)
    catalog = Catalog(
        url=url,
        live_first=today - datetime.timedelta(days=live_days - 1),
        archive_first=today - datetime.timedelta(days=live_days + archive_days - 1),
        archive_last=today - datetime.timedelta(days=live_days),
    )
    _build(catalog, today, rows_per_day=run.size(5, 20))
    run.shared["catalog"] = catalog
    return catalog


def _create_partitions(table: str, first: datetime.date, last: datetime.date) -> None:
    day = first
    while day <= last:
        chunk_end = min(day + datetime.timedelta(days=99), last)
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM audit_events_create_day_partitions(%s::regclass, %s, %s)",
                [connection.ops.quote_name(table), day, chunk_end],
            )
        day = chunk_end + datetime.timedelta(days=1)


def _build(catalog: Catalog, today: datetime.date, rows_per_day: int) -> None:
    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    _create_partitions(live._meta.db_table, catalog.live_first, today)
    _create_partitions(archive._meta.db_table, catalog.archive_first, catalog.archive_last)
    data.fill_days(live, catalog.live_first, today, rows_per_day, OBJECTS, USERS)
    data.fill_days(
        archive, catalog.archive_first, catalog.archive_last, rows_per_day, OBJECTS, USERS
    )
    _build_plain_table(live._meta.db_table, archive._meta.db_table)


def _build_plain_table(live: str, archive: str) -> None:
    ident = sql.Identifier
    plain = ident(PLAIN_TABLE)
    statements = [
        sql.SQL("CREATE TABLE {} (LIKE {} INCLUDING DEFAULTS INCLUDING CONSTRAINTS)").format(
            plain, ident(live)
        ),
        sql.SQL("INSERT INTO {} SELECT * FROM {} UNION ALL SELECT * FROM {}").format(
            plain, ident(live), ident(archive)
        ),
        # The same key and indexes as the partitioned tables (partitions.py).
        sql.SQL("ALTER TABLE {} ADD PRIMARY KEY (id, timestamp)").format(plain),
        sql.SQL("CREATE INDEX ON {} (content_type_id, object_id, timestamp)").format(plain),
        sql.SQL("CREATE INDEX ON {} (user_id, timestamp)").format(plain),
        sql.SQL("CREATE INDEX ON {} USING brin (timestamp)").format(plain),
        # Autovacuum never analyzes partitioned parents; the planner needs the statistics.
        sql.SQL("ANALYZE {}, {}, {}").format(plain, ident(live), ident(archive)),
    ]
    with connection.cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.as_string(connection.connection))
