"""Moving django-audit-events' rows into our tables (``manage.py import_django_audit_events``).

The original keeps events in ``django_audit_events_auditevent`` and
``django_audit_events_archivedauditevent`` (a random UUID4 primary key ``uuid``,
an integer ``object_id``, no username, ``archive_timestamp`` on each archived
row). ``upgrade`` copies them, one source table and UTC day at a time, with one
server-side ``INSERT ... SELECT`` per day: no row travels through Python.

* **Resumable, never doubled.** Each day's rows, their legacy-id records and
  the day's progress row are written in one transaction; a killed run leaves
  each day either done or untouched, and the next run skips done days.
* **Safe while the application writes.** Only the source day being copied is
  read; rows that reach a done source day later (an old release still running
  during a rolling deploy) are copied by the next run, which sees the day's
  count grow and copies the rows it has no legacy record of.
* **Old days straight into the archive.** A day older than
  ``AUDIT_ARCHIVE_AFTER_DAYS`` goes into an archive partition (made first with
  ``create_day_partitions``) and is recorded in the ``ArchivedDay`` ledger; its
  archive time is the earliest ``archive_timestamp`` of its archived rows. Each
  row's own ``archive_timestamp`` is kept in the legacy-id table.
* **Every original id resolves.** Our ids are time-ordered UUIDs made from the
  event's own timestamp (``new_id_sql``), so an original UUID4 cannot be one:
  ``audit_events_legacy_event`` maps each original ``uuid`` to our id and
  timestamp (``event_for_legacy_uuid``).
* **The source is only read.** Dropping it is a separate step
  (``drop_sources``), refused unless verification passes.
"""

from __future__ import annotations

import datetime
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.contrib.auth import get_user_model
from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from psycopg import sql

from audit_events.conf import settings
from audit_events.partitions import (
    create_day_partitions,
    day_bounds,
    list_partitions,
    table_of,
    utc_today,
)
from audit_events.tamper import days_to_seal, seal_day, verify_days

__all__ = [
    "LEGACY_TABLE",
    "PROGRESS_TABLE",
    "SOURCES",
    "DayPlan",
    "Mismatch",
    "drop_sources",
    "event_for_legacy_uuid",
    "new_id_sql",
    "plan",
    "record_and_verify_digests",
    "upgrade",
    "verify",
]

#: The original's tables: (source name in progress records, table).
SOURCES = (
    ("live", "django_audit_events_auditevent"),
    ("archive", "django_audit_events_archivedauditevent"),
)
LEGACY_TABLE = "audit_events_legacy_event"
PROGRESS_TABLE = "audit_events_upgrade_progress"


def new_id_sql(timestamp: sql.Composable) -> sql.Composable:
    """The SQL expression of a new event id for an event at ``timestamp``.

    The one place the upgrade makes ids: ``audit_events_uuid7`` (``sql/event_id.sql``),
    the UUIDv7 of the event's own timestamp that the tables' CHECK requires, the
    same as ``audit_events.ids.uuid7_for`` in Python.
    """
    return sql.SQL("audit_events_uuid7({ts})").format(ts=timestamp)


@dataclass(frozen=True)
class DayPlan:
    """One source day: how many rows it holds, how many are copied, where they go."""

    source: str
    day: datetime.date
    rows: int
    copied: int
    target: str

    @property
    def done(self) -> bool:
        return self.copied >= self.rows


@dataclass(frozen=True)
class Mismatch:
    """A source day whose rows are not all in our tables."""

    source: str
    day: datetime.date
    source_rows: int
    found_rows: int

    def __str__(self) -> str:
        return (
            f"{self.source} {self.day}: {self.source_rows} rows in the source, "
            f"{self.found_rows} in audit_events"
        )


# --- Set-up ----------------------------------------------------------------------


def _ensure_tables(using: str) -> None:
    statements = [
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (legacy_uuid uuid PRIMARY KEY, id uuid NOT NULL, "
            "timestamp timestamptz NOT NULL, source text NOT NULL, archive_timestamp timestamptz)"
        ).format(sql.Identifier(LEGACY_TABLE)),
        sql.SQL(
            "CREATE TABLE IF NOT EXISTS {} (source text NOT NULL, day date NOT NULL, "
            "rows bigint NOT NULL, done_at timestamptz NOT NULL DEFAULT now(), "
            "PRIMARY KEY (source, day))"
        ).format(sql.Identifier(PROGRESS_TABLE)),
    ]
    with connections[using].cursor() as cursor:
        for statement in statements:
            cursor.execute(statement.as_string())


def _existing_sources(using: str) -> list[tuple[str, str]]:
    names = connections[using].introspection.table_names()
    return [(source, table) for source, table in SOURCES if table in names]


def _models() -> tuple[type[models.Model], type[models.Model]]:
    from audit_events.models import get_audit_event_archive_model, get_audit_event_model

    return get_audit_event_model(), get_audit_event_archive_model()


# --- Plan ------------------------------------------------------------------------


def plan(using: str = DEFAULT_DB_ALIAS, today: datetime.date | None = None) -> list[DayPlan]:
    """Every source day with its row count, rows already copied, and target table."""
    live, archive = _models()
    archive_before = (today or utc_today()) - datetime.timedelta(
        days=settings.AUDIT_ARCHIVE_AFTER_DAYS
    )
    copied = _copied_counts(using)
    days = []
    for source, table in _existing_sources(using):
        query = sql.SQL(
            "SELECT (timestamp AT TIME ZONE 'UTC')::date, count(*) FROM {} GROUP BY 1 ORDER BY 1"
        ).format(sql.Identifier(table))
        with connections[using].cursor() as cursor:
            cursor.execute(query.as_string())
            for day, rows in cursor.fetchall():
                target = archive if day < archive_before else live
                days.append(
                    DayPlan(source, day, rows, copied.get((source, day), 0), table_of(target))
                )
    return days


def _copied_counts(using: str) -> dict[tuple[str, datetime.date], int]:
    if PROGRESS_TABLE not in connections[using].introspection.table_names():
        return {}
    query = sql.SQL("SELECT source, day, rows FROM {}").format(sql.Identifier(PROGRESS_TABLE))
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string())
        return {(source, day): rows for source, day, rows in cursor.fetchall()}


# --- Copy ------------------------------------------------------------------------

Progress = Callable[[DayPlan, int], None]


def upgrade(
    using: str = DEFAULT_DB_ALIAS,
    *,
    today: datetime.date | None = None,
    progress: Progress | None = None,
) -> int:
    """Copy every source day not done yet; return the number of rows copied.

    Args:
        using: the database alias (holding both the source and our tables).
        today: the UTC day the archive age counts from (default: today).
        progress: called after each day with its plan and the rows it copied.
    """
    _ensure_tables(using)
    live, archive = _models()
    statements: dict[tuple[str, str, bool], sql.Composed] = {}
    # One catalog read per table, not one partition lookup per day.
    made = {table_of(m): {p.day for p in list_partitions(m, using)} for m in (live, archive)}
    total = 0
    for day_plan in plan(using, today):
        if day_plan.done:
            continue
        target = archive if day_plan.target == table_of(archive) else live
        if day_plan.day not in made[table_of(target)]:
            create_day_partitions(target, day_plan.day, day_plan.day, using=using)
        key = (day_plan.source, day_plan.target, day_plan.copied > 0)
        if key not in statements:
            source_table = dict(SOURCES)[day_plan.source]
            statements[key] = _copy_statement(using, source_table, target, resume=key[2])
        intact = target is live or day_plan.copied == 0 or _digest_intact(using, day_plan.day)
        copied = _copy_day(using, day_plan, statements[key], is_archive=target is archive)
        if target is archive and day_plan.copied and intact:
            # Late source rows legitimately change an imported day that was sealed: seal
            # it again (only if it still matched before, so an earlier edit is not laundered).
            _unseal(using, day_plan.day)
        total += copied
        if progress is not None:
            progress(day_plan, copied)
    return total


def _copy_day(using: str, day_plan: DayPlan, statement: sql.Composed, *, is_archive: bool) -> int:
    """One source day (``statement``), its legacy records and progress, atomically."""
    lower, upper = day_bounds(day_plan.day)
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        params: dict[str, Any] = {"lower": lower, "upper": upper, "src": day_plan.source}
        cursor.execute(statement.as_string(), params)
        copied, archived_at = cursor.fetchone()
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (source, day, rows) VALUES (%s, %s, %s) ON CONFLICT (source, day) "
                "DO UPDATE SET rows = {}.rows + EXCLUDED.rows, done_at = now()"
            )
            .format(sql.Identifier(PROGRESS_TABLE), sql.Identifier(PROGRESS_TABLE))
            .as_string(),
            [day_plan.source, day_plan.day, copied],
        )
        if is_archive:
            _record_archived_day(cursor, _models()[1], day_plan.day, archived_at)
    return int(copied)


def _copy_statement(
    using: str, source_table: str, target: type[models.Model], *, resume: bool
) -> sql.Composed:
    user = get_user_model()
    username_column = str(user._meta.get_field(user.USERNAME_FIELD).column)  # type: ignore[union-attr]
    columns = _source_columns(using, source_table)

    def json_column(name: str) -> sql.Composable:
        if name not in columns:
            return sql.SQL("'{}'::jsonb")
        return sql.SQL("coalesce(s.{}, '{{}}'::jsonb)").format(sql.Identifier(name))

    archive_timestamp = sql.SQL("NULL::timestamptz")
    if "archive_timestamp" in columns:
        archive_timestamp = sql.SQL("s.archive_timestamp")
    skip_copied = sql.SQL(
        " AND NOT EXISTS (SELECT FROM {legacy} AS l WHERE l.legacy_uuid = s.uuid)"
    ).format(legacy=sql.Identifier(LEGACY_TABLE))
    return sql.SQL(
        "WITH src AS MATERIALIZED ("
        " SELECT s.*, {new_id} AS new_id, {archive_timestamp} AS legacy_archive_timestamp"
        " FROM {source} AS s WHERE s.timestamp >= %(lower)s AND s.timestamp < %(upper)s{skip}),"
        " copied AS (INSERT INTO {target} (id, timestamp, user_id, username, remote_addr, url,"
        " query_params, post_data, headers, content_type_id, object_id, content)"
        " SELECT s.new_id, s.timestamp, s.user_id, coalesce(left(u.{username}::text, 150), ''),"
        " s.remote_addr, coalesce(s.url, ''), {query_params}, {post_data}, {headers},"
        " s.content_type_id, s.object_id::text, coalesce(s.content, '{{}}'::jsonb)"
        " FROM src AS s LEFT JOIN {users} AS u ON u.{user_pk} = s.user_id),"
        " legacy AS (INSERT INTO {legacy} (legacy_uuid, id, timestamp, source, archive_timestamp)"
        " SELECT s.uuid, s.new_id, s.timestamp, %(src)s, s.legacy_archive_timestamp FROM src AS s"
        " RETURNING archive_timestamp)"
        " SELECT count(*), min(archive_timestamp) FROM legacy"
    ).format(
        new_id=new_id_sql(sql.SQL("s.timestamp")),
        archive_timestamp=archive_timestamp,
        source=sql.Identifier(source_table),
        skip=skip_copied if resume else sql.SQL(""),
        target=sql.Identifier(table_of(target)),
        username=sql.Identifier(username_column),
        query_params=json_column("query_params"),
        post_data=json_column("post_data"),
        headers=json_column("headers"),
        users=sql.Identifier(str(user._meta.db_table)),
        user_pk=sql.Identifier(str(user._meta.pk.column)),
        legacy=sql.Identifier(LEGACY_TABLE),
    )


def _source_columns(using: str, table: str) -> set[str]:
    with connections[using].cursor() as cursor:
        description = connections[using].introspection.get_table_description(cursor, table)
    return {column.name for column in description}


def _record_archived_day(
    cursor: Any, archive: type[models.Model], day: datetime.date, archived_at: Any
) -> None:
    """The ledger record of an archive day (in the day's transaction).

    Its archive time is the earliest ``archive_timestamp`` of the day's rows
    (now, for rows of the original's live table).
    """
    from audit_events.models import ArchivedDay

    query = sql.SQL(
        "INSERT INTO {ledger} (archive_table, day, archived_at, row_count, digest) "
        "VALUES (%s, %s, coalesce(%s, now()), NULL, '') "
        "ON CONFLICT (archive_table, day) DO UPDATE SET "
        "archived_at = least({ledger}.archived_at, EXCLUDED.archived_at)"
    ).format(ledger=sql.Identifier(ArchivedDay._meta.db_table))
    cursor.execute(query.as_string(), [table_of(archive), day, archived_at])


def _digest_intact(using: str, day: datetime.date) -> bool:
    return not [p for p in verify_days(using, days=[day]) if p.problem in _TAMPERED]


_TAMPERED = ("changed", "removed", "added", "missing")


def _unseal(using: str, day: datetime.date) -> None:
    """Forget an imported archive day's seal, so that ``record_and_verify_digests``
    seals it again with the rows the import added since."""
    from audit_events.models import ArchivedDay, SealedDay

    live, archive = _models()
    with transaction.atomic(using=using):
        SealedDay.objects.using(using).filter(event_table=table_of(live), day=day).delete()
        ArchivedDay.objects.using(using).filter(archive_table=table_of(archive), day=day).update(
            row_count=None, digest=""
        )


# --- Verification and clean-up -----------------------------------------------------


def record_and_verify_digests(
    using: str = DEFAULT_DB_ALIAS,
) -> tuple[list[datetime.date], list[Any]]:
    """Seal the archived days that have no seal (the imported ones: row count and
    digest), then check every imported archive day against its seal.

    Returns:
        The days whose digest was recorded now, and the ``DayProblem``s found.
    """
    _live, archive = _models()
    now = datetime.datetime.now(datetime.UTC)
    unsealed = [
        (day, table) for day, table, state in days_to_seal(using, now) if state == "archived"
    ]
    recorded = [day for day, table in unsealed if seal_day(day, table, "archived", using)]
    days = sorted({p.day for p in plan(using) if p.target == table_of(archive)})
    problems = [p for p in verify_days(using, days=days) if p.problem in _TAMPERED]
    return recorded, problems


def verify(using: str = DEFAULT_DB_ALIAS) -> list[Mismatch]:
    """Source days whose rows are not all in our tables (empty: all there).

    Counts, per source day, the rows of the source and the legacy records whose
    event is found in our live or archive table (same id and timestamp).
    """
    live, archive = _models()
    found_query = sql.SQL(
        "SELECT l.source, (l.timestamp AT TIME ZONE 'UTC')::date, count(*) FROM {legacy} AS l "
        "WHERE EXISTS (SELECT FROM {live} AS t WHERE t.id = l.id AND t.timestamp = l.timestamp) "
        "OR EXISTS (SELECT FROM {archive} AS t WHERE t.id = l.id AND t.timestamp = l.timestamp) "
        "GROUP BY 1, 2"
    ).format(
        legacy=sql.Identifier(LEGACY_TABLE),
        live=sql.Identifier(table_of(live)),
        archive=sql.Identifier(table_of(archive)),
    )
    _ensure_tables(using)
    with connections[using].cursor() as cursor:
        cursor.execute(found_query.as_string())
        found = {(source, day): count for source, day, count in cursor.fetchall()}
    return [
        Mismatch(p.source, p.day, p.rows, found.get((p.source, p.day), 0))
        for p in plan(using)
        if found.get((p.source, p.day), 0) != p.rows
    ]


def drop_sources(using: str = DEFAULT_DB_ALIAS) -> list[str]:
    """Drop the original's tables, after a verification that must find nothing missing.

    Raises:
        ValueError: some source rows are not in our tables yet (run the upgrade).
    """
    mismatches = verify(using)
    if mismatches:
        raise ValueError(
            f"{len(mismatches)} source day(s) are not fully upgraded (first: {mismatches[0]}); "
            "run import_django_audit_events again before dropping the source tables."
        )
    dropped = [table for _source, table in _existing_sources(using)]
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        for table in dropped:
            cursor.execute(sql.SQL("DROP TABLE {}").format(sql.Identifier(table)).as_string())
    return dropped


def event_for_legacy_uuid(
    legacy_uuid: uuid.UUID | str, using: str = DEFAULT_DB_ALIAS
) -> models.Model | None:
    """The event (live or archived) that had id ``legacy_uuid`` in django-audit-events."""
    live, archive = _models()
    if LEGACY_TABLE not in connections[using].introspection.table_names():
        return None
    query = sql.SQL("SELECT id, timestamp FROM {} WHERE legacy_uuid = %s").format(
        sql.Identifier(LEGACY_TABLE)
    )
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string(), [str(legacy_uuid)])
        row = cursor.fetchone()
    if row is None:
        return None
    for model in (live, archive):
        # The timestamp lets PostgreSQL look into one partition only.
        found = model._default_manager.using(using).filter(pk=row[0], timestamp=row[1]).first()
        if found is not None:
            return found
    return None


def rate(rows: int, started: float) -> float:
    """Rows per second since ``started`` (``time.monotonic()``)."""
    return rows / max(time.monotonic() - started, 1e-9)
