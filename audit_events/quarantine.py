"""The spool's rows are checked before they become history; refused ones are quarantined.

The application role may INSERT into the spool (``<table>_spool``: an id, a
timestamp and the whole row as JSONB), so rotation trusts nothing in it. Each
spooled row is drained on its own and moved into its day only when:

* its JSON row is a valid event whose id and timestamp are its columns' values;
* its id is stored in neither the live nor the archive table;
* its day is neither sealed (``SealedDay``) nor archived.

Any other row, and any row PostgreSQL refuses on the way in, is moved (in the
same transaction as its removal from the spool) to ``QuarantinedEvent``, a
table the application role cannot write, with the reason. A late event for a
sealed day is such a row: an *amendment* of the day, reported with its id,
never folded into the seal. Nothing a spooled row holds can fail the run: the
rest of the spool still drains, and rotation goes on to seal and analyze.
Quarantined rows are reported by rotation's output, ``audit_partitions``,
system check ``audit_events.W003`` and ``verify_audit_events``. To release
one after review, the maintenance role deletes it from the quarantine table
(and may record the event again by hand).
"""

from __future__ import annotations

import datetime
import logging
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from django.db import DatabaseError, connections, models, transaction
from psycopg import sql

from audit_events.ids import id_matches
from audit_events.partitions import FIRST_DAY, LAST_DAY, bound_ddl_on_workers, column_of, table_of
from audit_events.spool import spool_table

__all__ = [
    "AMENDMENT",
    "DrainedDay",
    "drain_checked",
    "quarantine_problems",
    "quarantined_count",
]

logger = logging.getLogger("audit_events")

#: The reason given to a late event for a sealed day (reported as an amendment).
AMENDMENT = "late event for a sealed day"
_MISMATCH = "its JSON row does not match its id and timestamp columns"
_INVALID = "not a valid event"
_DUPLICATE = "its id is already stored"
_NOT_ITS_TIME = "its id is not an id of its timestamp (audit_events.ids)"
_ARCHIVED = "its day is archived"
_NO_DAY = "its timestamp has no day a partition can hold"
_DAY = datetime.timedelta(days=1)


@dataclass
class DrainedDay:
    """What draining did for one UTC day of the spool.

    ``refusal`` is why no row may join the day, judged once when the drain
    meets it (sealed, archived), so that a day the drain itself creates in the
    archive takes all of its spooled rows.
    """

    day: datetime.date | None
    refusal: str | None = None
    target: str = ""
    moved: int = 0
    quarantined: Counter[str] = field(default_factory=Counter)


def _models() -> tuple[type[models.Model], type[models.Model]]:
    from audit_events.models import get_audit_event_archive_model, get_audit_event_model

    return get_audit_event_model(), get_audit_event_archive_model()


def _sql(cursor: Any, query: sql.Composable, params: list[Any] | None = None) -> None:
    cursor.execute(query.as_string(cursor.connection), params or [])


def drain_checked(
    using: str,
    target_for_day: Callable[[datetime.date], type[models.Model]],
    only: set[datetime.date] | None = None,
) -> list[DrainedDay]:
    """Move each valid spooled row into its day; quarantine every other one.

    Args:
        using: the database alias.
        target_for_day: returns the model whose table receives a day (live, or
            archive for a day past the archive age), after making sure it has a
            partition for it (on the ``using`` connection, inside the day's
            transaction). Only called for days neither sealed nor archived.
        only: drain only these days (default: every day of the spool).

    Returns:
        One ``DrainedDay`` per day met, in day order.
    """
    live, _ = _models()
    spool = sql.Identifier(spool_table(live))
    by_day: dict[datetime.date | None, DrainedDay] = {}
    with connections[using].cursor() as cursor:
        # Only timestamps Python can represent come back as values; others as NULL.
        _sql(
            cursor,
            sql.SQL(
                "SELECT id, CASE WHEN timestamp >= %s AND timestamp < %s THEN timestamp END "
                "FROM {} ORDER BY timestamp, id"
            ).format(spool),
            [
                datetime.datetime.combine(FIRST_DAY, datetime.time(), tzinfo=datetime.UTC),
                datetime.datetime.combine(LAST_DAY, datetime.time(), tzinfo=datetime.UTC) + _DAY,
            ],
        )
        rows = cursor.fetchall()
    days: dict[datetime.date | None, list[Any]] = {}
    for event_id, timestamp in rows:
        day = None if timestamp is None else timestamp.astimezone(datetime.UTC).date()
        if only is None or day in only:
            days.setdefault(day, []).append(event_id)
    for day, event_ids in days.items():
        # One transaction per day: a partition the drain makes for the day
        # (and its ledger record) commits with the rows it takes, never
        # without them. An empty day left by a crash in between would be
        # sealed empty by the next run, and its rows refused as late events.
        with transaction.atomic(using=using):
            # On Citus the day's DDL must not follow a parallel read of the shards
            # (the duplicate probe) in one transaction: all of it runs sequential.
            with connections[using].cursor() as cursor:
                bound_ddl_on_workers(cursor, connections[using].ops.quote_name(table_of(live)))
            by_day[day] = DrainedDay(day, _NO_DAY if day is None else _day_refusal(using, day))
            for event_id in event_ids:
                _drain_one(using, event_id, day, by_day[day], target_for_day)
    return [by_day[d] for d in sorted(by_day, key=lambda d: d or datetime.date.min)]


def _drain_one(
    using: str,
    event_id: Any,
    day: datetime.date | None,
    drained: DrainedDay,
    target_for_day: Callable[[datetime.date], type[models.Model]],
) -> None:
    reason = drained.refusal or _row_refusal(using, event_id)
    if reason is None and day is not None:
        # Not the row's fault when its day's partition cannot be made (a lock,
        # a refused ledger record): that fails the run, the row stays spooled.
        target = target_for_day(day)
        try:
            with transaction.atomic(using=using):
                moved = _move(using, event_id, target)
        except DatabaseError as exc:
            reason = f"{_INVALID}: {str(exc).strip()}"
        else:
            drained.target = table_of(target)
            drained.moved += moved
            return
    try:
        with transaction.atomic(using=using):
            _quarantine(using, event_id, reason or _INVALID)
    except DatabaseError:  # never fail the run: the row waits for the next one
        logger.exception("audit_events: spooled row %s could not be quarantined", event_id)
        return
    drained.quarantined[reason or _INVALID] += 1
    logger.warning("audit_events: spooled event %s quarantined: %s", event_id, reason)


def _day_refusal(using: str, day: datetime.date) -> str | None:
    """Why no spooled row may join ``day`` (sealed or archived), or None."""
    from audit_events.models import SealedDay

    live, archive = _models()
    if SealedDay.objects.using(using).filter(event_table=table_of(live), day=day).exists():
        return AMENDMENT
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT audit_events_partition_for_day(%s::regclass, %s) IS NOT NULL",
            [connections[using].ops.quote_name(table_of(archive)), day],
        )
        return _ARCHIVED if cursor.fetchone()[0] else None


def _row_refusal(using: str, event_id: Any) -> str | None:
    """Why the spooled row ``event_id`` must not enter history (or None)."""
    live, archive = _models()
    try:
        with transaction.atomic(using=using), connections[using].cursor() as cursor:
            _sql(
                cursor,
                sql.SQL(
                    "SELECT r.{pk} = s.id AND r.{ts} = s.timestamp, s.timestamp "
                    "FROM {spool} AS s, jsonb_populate_record(NULL::{live}, s.row) AS r "
                    "WHERE s.id = %s"
                ).format(
                    pk=sql.Identifier(column_of(live)),
                    ts=sql.Identifier(column_of(live, "timestamp")),
                    spool=sql.Identifier(spool_table(live)),
                    live=sql.Identifier(table_of(live)),
                ),
                [event_id],
            )
            matches = cursor.fetchone()
    except DatabaseError as exc:
        return f"{_INVALID}: {str(exc).strip()}"
    if not matches or matches[0] is not True:
        return _MISMATCH
    when = matches[1]
    if not id_matches(_as_uuid(event_id), when):
        return _NOT_ITS_TIME
    with connections[using].cursor() as cursor:
        # An id holds its timestamp (the tables' CHECK): a stored event with this id
        # has this timestamp, so the probe reads one day table of each parent.
        _sql(
            cursor,
            sql.SQL(
                "SELECT EXISTS (SELECT 1 FROM {live} WHERE {pk} = %s AND {ts} = %s) "
                "OR EXISTS (SELECT 1 FROM {archive} WHERE {pk} = %s AND {ts} = %s)"
            ).format(
                live=sql.Identifier(table_of(live)),
                archive=sql.Identifier(table_of(archive)),
                pk=sql.Identifier(column_of(live)),
                ts=sql.Identifier(column_of(live, "timestamp")),
            ),
            [event_id, when, event_id, when],
        )
        if cursor.fetchone()[0]:
            return _DUPLICATE
    return None


def _as_uuid(value: Any) -> uuid.UUID:
    return value if isinstance(value, uuid.UUID) else uuid.UUID(str(value))


def _move(using: str, event_id: Any, target: type[models.Model]) -> int:
    live, _ = _models()
    with connections[using].cursor() as cursor:
        _sql(
            cursor,
            sql.SQL(
                "WITH moved AS (DELETE FROM {spool} WHERE id = %s RETURNING row) "
                "INSERT INTO {target} SELECT (jsonb_populate_record(NULL::{target}, moved.row)).* "
                "FROM moved"
            ).format(
                spool=sql.Identifier(spool_table(live)), target=sql.Identifier(table_of(target))
            ),
            [event_id],
        )
        return int(cursor.rowcount)


def _quarantine(using: str, event_id: Any, reason: str) -> None:
    from audit_events.models import QuarantinedEvent

    live, _ = _models()
    with connections[using].cursor() as cursor:
        _sql(
            cursor,
            sql.SQL(
                "WITH moved AS (DELETE FROM {spool} WHERE id = %s RETURNING *) "
                "INSERT INTO {quarantine} (event_table, event_id, timestamp, day, row, reason, "
                "spooled_at, quarantined_at) "
                "SELECT %s, moved.id::text, moved.timestamp, "
                "CASE WHEN isfinite(moved.timestamp) "
                "THEN (moved.timestamp AT TIME ZONE 'UTC')::date END, "
                "moved.row, %s, moved.spooled_at, now() FROM moved"
            ).format(
                spool=sql.Identifier(spool_table(live)),
                quarantine=sql.Identifier(QuarantinedEvent._meta.db_table),
            ),
            [event_id, table_of(live), reason],
        )


# --- Reporting ------------------------------------------------------------------


def _quarantine_groups(using: str) -> list[tuple[datetime.date | None, str, int, list[str]]]:
    """(day, reason, count, first ids) of the quarantined rows, by day and reason."""
    from audit_events.models import QuarantinedEvent

    live, _ = _models()
    lower = datetime.datetime.combine(FIRST_DAY, datetime.time(), tzinfo=datetime.UTC)
    upper = datetime.datetime.combine(LAST_DAY, datetime.time(), tzinfo=datetime.UTC) + _DAY
    with connections[using].cursor() as cursor:
        _sql(
            cursor,
            sql.SQL(
                "SELECT CASE WHEN timestamp >= %s AND timestamp < %s THEN day END AS d, reason, "
                "count(*), (array_agg(event_id ORDER BY quarantined_at, id))[1:5] "
                "FROM {} WHERE event_table = %s GROUP BY 1, 2 ORDER BY 1, 2"
            ).format(sql.Identifier(QuarantinedEvent._meta.db_table)),
            [lower, upper, table_of(live)],
        )
        return [(day, reason, int(n), list(ids)) for day, reason, n, ids in cursor.fetchall()]


def quarantined_count(using: str) -> int:
    """How many spooled rows of the live table are held in quarantine."""
    return sum(n for _day, _reason, n, _ids in _quarantine_groups(using))


def quarantine_problems(using: str) -> list[Any]:
    """The quarantined rows as ``DayProblem``: amendments of sealed days, and the rest."""
    from audit_events.tamper import DayProblem

    problems = []
    for day, reason, count, ids in _quarantine_groups(using):
        shown = ", ".join(ids) + (", ..." if count > len(ids) else "")
        if reason == AMENDMENT:
            detail = f"{count} late event(s) after its seal, held in quarantine (ids: {shown})"
            problems.append(DayProblem(day, "amended", None, None, detail))
        else:
            detail = f"{count} spooled row(s) held in quarantine: {reason} (ids: {shown})"
            problems.append(DayProblem(day, "quarantined", None, None, detail))
    return problems
