"""Fixtures and helpers for lifecycle tests (rotation, archive, spool, commands).

Lifecycle tests run DDL that a transaction cannot hold (``DETACH ...
CONCURRENTLY``, other connections), so they use ``transaction=True`` and the
partition layout they change survives Django's flush. ``fresh_layout`` puts
back the layout the migration made (live partitions from yesterday to
``AUDIT_PARTITION_PREMAKE_DAYS`` ahead, an empty archive, an empty spool)
before and after each test.
"""

from __future__ import annotations

import datetime
import threading
from collections.abc import Callable, Iterator

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections
from psycopg import sql

from audit_events.conf import settings
from audit_events.lifecycle import partition_status
from audit_events.models import ArchivedAuditEvent, AuditEvent, get_audit_event_model
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.spool import forget_partitioned_days, spool_table

DAY = datetime.timedelta(days=1)


def reset_layout() -> None:
    """Drop every day table of both event tables and recreate the migration's layout."""
    with connection.cursor() as cursor:
        for status in partition_status():
            if status.state == "pending":
                cursor.execute(
                    sql.SQL("ALTER TABLE {} DETACH PARTITION {} FINALIZE")
                    .format(sql.SQL(status.parent), sql.SQL(status.table))
                    .as_string(cursor.connection)
                )
            cursor.execute(
                sql.SQL("DROP TABLE {}").format(sql.SQL(status.table)).as_string(cursor.connection)
            )
        cursor.execute(
            sql.SQL("TRUNCATE {}")
            .format(sql.Identifier(spool_table(get_audit_event_model())))
            .as_string(cursor.connection)
        )
        cursor.execute(
            "TRUNCATE audit_events_archivedday, audit_events_sealedday, "
            "audit_events_quarantinedevent"
        )
    today = utc_today()
    ahead = settings.AUDIT_PARTITION_PREMAKE_DAYS
    create_day_partitions(get_audit_event_model(), today - DAY, today + ahead * DAY)
    forget_partitioned_days()


@pytest.fixture
def fresh_layout(transactional_db: None) -> Iterator[None]:
    """The migration's partition layout, restored before and after the test."""
    reset_layout()
    yield
    reset_layout()


def content_type_id() -> int:
    return ContentType.objects.get_for_model(AuditEvent).pk


def insert_rows(day: datetime.date, count: int, using: str = "default") -> None:
    """Insert ``count`` events spread over UTC day ``day`` with one statement."""
    start, _ = day_bounds(day)
    with connections[using].cursor() as cursor:
        cursor.execute(
            """
            INSERT INTO audit_events_auditevent
                (id, timestamp, username, url, query_params, post_data, headers,
                 object_id, content, content_type_id)
            SELECT audit_events_uuid7(t), t, 'bulk', '',
                   '{}', '{}', '{}', g::text, jsonb_build_object('n', g), %s
            FROM generate_series(1, %s) AS g,
                 LATERAL (SELECT %s + (g * interval '86399 seconds' / %s)) AS s(t)
            """,
            [content_type_id(), count, start, count],
        )


def relfilenode(table: str) -> int:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relfilenode FROM pg_class WHERE oid = %s::regclass", [table])
        return int(cursor.fetchone()[0])


def index_definitions(table: str) -> list[str]:
    """The index definitions of ``table``, with the table's own name left out."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT regexp_replace(pg_get_indexdef(indexrelid), '^.* USING ', '') "
            "FROM pg_index WHERE indrelid = %s::regclass ORDER BY 1",
            [table],
        )
        return [definition for (definition,) in cursor.fetchall()]


def states() -> dict[str, tuple[str, datetime.date]]:
    """Each day table's state and day, by name."""
    return {s.table: (s.state, s.day) for s in partition_status()}


def count_everywhere() -> int:
    """Events in the live table, the archive table, the spool and the quarantine together.

    Late events for a day sealed meanwhile are kept in the quarantine (amendments).
    """
    from audit_events.models import QuarantinedEvent

    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT count(*) FROM {}")
            .format(sql.Identifier(spool_table(AuditEvent)))
            .as_string(cursor.connection)
        )
        spooled = int(cursor.fetchone()[0])
    held = QuarantinedEvent.objects.count()
    return AuditEvent.objects.count() + ArchivedAuditEvent.objects.count() + spooled + held


class Writers:
    """Threads, each with its own connection, saving events until stopped."""

    def __init__(
        self, threads: int, day_for: Callable[[int, int], datetime.date] | None = None
    ) -> None:
        self.stop = threading.Event()
        self.errors: list[BaseException] = []
        self.written = 0
        self._lock = threading.Lock()
        self._day_for = day_for
        self._threads = [threading.Thread(target=self._write, args=(n,)) for n in range(threads)]

    def _timestamp(self, n: int, i: int) -> datetime.datetime:
        now = datetime.datetime.now(datetime.UTC)
        if self._day_for is None:
            return now
        return datetime.datetime.combine(self._day_for(n, i), now.time(), tzinfo=datetime.UTC)

    def _write(self, n: int) -> None:
        ct = ContentType.objects.get_for_model(AuditEvent)
        try:
            i = 0
            while not self.stop.is_set():
                AuditEvent(
                    content_type=ct, object_id=f"{n}-{i}", timestamp=self._timestamp(n, i)
                ).save()
                with self._lock:
                    self.written += 1
                i += 1
        except BaseException as exc:  # reported by the test
            self.errors.append(exc)
        finally:
            connections.close_all()

    def __enter__(self) -> Writers:
        for thread in self._threads:
            thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.stop.set()
        for thread in self._threads:
            thread.join()
