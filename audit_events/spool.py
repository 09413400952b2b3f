"""The safety net: events whose day has no partition are never lost or refused.

Without a partition for its day, PostgreSQL refuses a row (``no partition of
relation ... found for row``). That happens when rotation has not run for
longer than partitions were made ahead, when a clock jumps, or when an import
writes old dates. Such an event goes to a small spool table instead, and
rotation moves it into its day's partition (``drain_spool``).

Why not a DEFAULT partition: it forbids ``DETACH ... CONCURRENTLY`` and makes
every ``ATTACH`` scan it. Why the spool stores whole rows as JSONB: so that it
follows later ``AddField`` migrations of the event model without a change of
its own; ``jsonb_populate_record`` turns a row back into the table's row type.

The fast path costs nothing extra: a per-process cache of the days that have
partitions lets a normal ``INSERT`` go straight through. Only an event for a
day not known to have a partition (or an old day, which archiving could move
away at any moment) is inserted inside a savepoint, so that a refusal can fall
back to the spool without breaking the caller's transaction.
"""

from __future__ import annotations

import datetime
import logging
import threading
import time
from collections.abc import Callable
from typing import Any

from django.db import connections, models, router, transaction
from django.db.models.signals import post_save
from django.db.utils import IntegrityError
from psycopg import sql

from audit_events.distribution import raise_without_shard_names
from audit_events.exceptions import PartitioningError
from audit_events.partitions import (
    column_of,
    day_bounds,
    db_type_of,
    list_partitions,
    partition_day,
    short_name,
    table_of,
    utc_today,
)
from audit_events.rows import can_insert_directly, insert_event

__all__ = [
    "create_spool_table",
    "drain_spool",
    "drop_spool_table",
    "save_event",
    "spool_table",
    "spooled_counts",
]

logger = logging.getLogger("audit_events")

_CHECK_VIOLATION = "23514"
_INTERNAL_ERROR = "XX000"
_NO_PARTITION_MESSAGES = ("no partition of relation ", "audit_events: no partition takes new rows")
_CACHE_SECONDS = 300.0
_cache_lock = threading.Lock()
_known_days: dict[tuple[str, str], tuple[float, frozenset[datetime.date]]] = {}


def spool_table(model: type[models.Model]) -> str:
    """The name of ``model``'s spool table."""
    return short_name(table_of(model), "_spool")


# --- Writing ------------------------------------------------------------------


def save_event(event: models.Model, save: Callable[..., None], *args: Any, **kwargs: Any) -> None:
    """Save ``event`` with ``save`` (Model.save), spooling it if its day has no partition."""
    if not event._state.adding:
        save(*args, **kwargs)
        return
    model = type(event)
    using = kwargs.get("using") or router.db_for_write(model, instance=event)

    def write() -> None:
        if can_insert_directly(model, args, kwargs):
            insert_event(event, using)
        else:
            save(*args, **kwargs)

    if _day_is_safe(model, using, event.timestamp):  # type: ignore[attr-defined]
        try:
            write()
        except IntegrityError as exc:
            raise_without_shard_names(exc, model)  # on Citus, errors name shards
            raise
        return
    try:
        with transaction.atomic(using=using):
            write()
    except IntegrityError as exc:
        if not is_missing_partition_error(exc):
            raise_without_shard_names(exc, model)
            raise
        _refuse_without_spool(event, exc)
        from audit_events.ondemand import write_to_new_day

        if not write_to_new_day(event, using, write):
            _spool_event(event, using)


def _refuse_without_spool(event: models.Model, exc: IntegrityError) -> None:
    """Archive tables have no spool: say what to do instead of failing on a missing table."""
    from audit_events.models import AbstractArchivedAuditEvent

    if isinstance(event, AbstractArchivedAuditEvent):
        model = type(event)
        raise PartitioningError(
            f"No partition of {table_of(model)} holds {getattr(event, 'timestamp', None)}: "
            "archived events arrive by archiving their day. To write one directly, create "
            f"its day first: create_day_partitions({model.__name__}, day, day)."
        ) from exc


def is_missing_partition_error(exc: BaseException) -> bool:
    """Whether ``exc`` is PostgreSQL's "no partition of relation ... found for row"
    (or a sealed day's refusal, which says "no partition takes new rows")."""
    cause = exc.__cause__
    state = getattr(cause, "sqlstate", None)
    if state == _INTERNAL_ERROR:
        # Citus relays a worker's error during COPY (bulk_create_events) with
        # its message but without its SQLSTATE: only these messages qualify.
        return str(cause).startswith(_NO_PARTITION_MESSAGES)
    return state == _CHECK_VIOLATION and "no partition" in str(cause)


def _day_is_safe(model: type[models.Model], using: str, timestamp: datetime.datetime) -> bool:
    """Whether an event at ``timestamp`` can be inserted without a savepoint.

    Only today, when known to have a partition: an older day may be sealed
    (its partition then refuses new rows) or archived (detached) by a
    concurrent rotation.
    """
    if timestamp is None or timestamp.tzinfo is None:
        return False
    day = partition_day(timestamp)
    if day < utc_today():
        return False
    return day in _partitioned_days(model, using)


def _partitioned_days(model: type[models.Model], using: str) -> frozenset[datetime.date]:
    key = (using, table_of(model))
    now = time.monotonic()
    with _cache_lock:
        cached = _known_days.get(key)
    if cached and now - cached[0] < _CACHE_SECONDS:
        return cached[1]
    days = frozenset(p.day for p in list_partitions(model, using) if not p.detach_pending)
    with _cache_lock:
        _known_days[key] = (now, days)
    return days


def forget_partitioned_days() -> None:
    """Empty the per-process cache of days known to have partitions."""
    with _cache_lock:
        _known_days.clear()


def _spool_event(event: models.Model, using: str) -> None:
    model = type(event)
    connection = connections[using]
    fields = model._meta.concrete_fields
    # Each value is cast to its column's type before to_jsonb(), so that
    # jsonb_populate_record() gives back exactly the value PostgreSQL would store.
    columns = sql.SQL(", ").join(
        sql.Composed(
            [
                sql.SQL("{}::{} AS {}").format(
                    sql.Placeholder(),
                    sql.SQL(db_type_of(f, connection)),
                    sql.Identifier(str(f.column)),
                )
                for f in fields
            ]
        )
    )
    query = sql.SQL(
        "INSERT INTO {spool} (id, timestamp, row) SELECT r.{pk}, r.{ts}, to_jsonb(r) "
        "FROM (SELECT {columns}) AS r"
    ).format(
        spool=sql.Identifier(spool_table(model)),
        pk=sql.Identifier(column_of(model)),
        ts=sql.Identifier(column_of(model, "timestamp")),
        columns=columns,
    )
    values = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in fields]
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(query.as_string(connection.connection), values)
    event._state.adding = False
    event._state.db = using
    forget_partitioned_days()
    from audit_events.ondemand import warn_once

    timestamp = getattr(event, "timestamp", None)
    warn_once(  # once per day and process, not per event (an import writes thousands)
        spool_table(model),
        partition_day(timestamp) if timestamp is not None else None,
        "audit_events: no partition for %s of %s; its events are kept in %s until rotation",
        timestamp,
        model._meta.label,
        spool_table(model),
    )
    post_save.send(
        sender=model, instance=event, created=True, update_fields=None, raw=False, using=using
    )


# --- Draining -----------------------------------------------------------------


def spooled_counts(model: type[models.Model], using: str) -> list[tuple[datetime.date, int]]:
    """The UTC days of the events waiting in ``model``'s spool, with their counts."""
    connection = connections[using]
    query = sql.SQL(
        "SELECT (timestamp AT TIME ZONE 'UTC')::date, count(*) FROM {spool} GROUP BY 1 ORDER BY 1"
    ).format(spool=sql.Identifier(spool_table(model)))
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(connection.connection))
        return [(day, int(count)) for day, count in cursor.fetchall()]


def spooled_days(model: type[models.Model], using: str) -> list[datetime.date]:
    """The UTC days of the events waiting in ``model``'s spool."""
    return [day for day, _count in spooled_counts(model, using)]


def drain_day(
    source: type[models.Model], target: type[models.Model], day: datetime.date, using: str
) -> int:
    """Move ``source``'s spooled events of ``day`` into ``target``'s table.

    ``target`` must have a partition for ``day``. Delete and insert happen in one
    statement, so an interruption leaves every event in exactly one place.
    Returns the number of events moved.
    """
    connection = connections[using]
    lower, upper = day_bounds(day)
    query = sql.SQL(
        "WITH moved AS (DELETE FROM {spool} WHERE timestamp >= %s AND timestamp < %s "
        "RETURNING row) "
        "INSERT INTO {target} SELECT (jsonb_populate_record(NULL::{target}, moved.row)).* "
        "FROM moved"
    ).format(spool=sql.Identifier(spool_table(source)), target=sql.Identifier(table_of(target)))
    with transaction.atomic(using=using), connection.cursor() as cursor:
        cursor.execute(query.as_string(connection.connection), [lower, upper])
        return int(cursor.rowcount)


def drain_spool(
    model: type[models.Model],
    using: str,
    target_for_day: Callable[[datetime.date], type[models.Model]],
) -> int:
    """Move every spooled event of ``model`` into the table ``target_for_day(day)``.

    ``target_for_day`` returns the model whose table receives the day (the live
    table, or the archive table for a day already past the archive age) after
    making sure it has a partition for it. Returns the number of events moved.
    """
    return sum(
        drain_day(model, target_for_day(day), day, using) for day in spooled_days(model, using)
    )


# --- DDL ------------------------------------------------------------------------


def create_spool_table(schema_editor: Any, model: type[models.Model]) -> None:
    """Create ``model``'s spool table (used by ``PartitionByDay``)."""
    connection = schema_editor.connection
    statement = sql.SQL(
        "CREATE TABLE {spool} (id {pk_type} PRIMARY KEY, timestamp timestamptz NOT NULL, "
        "spooled_at timestamptz NOT NULL DEFAULT now(), row jsonb NOT NULL)"
    ).format(
        spool=sql.Identifier(spool_table(model)),
        pk_type=sql.SQL(db_type_of(model._meta.pk, connection)),
    )
    schema_editor.execute(statement.as_string(connection.connection))


def drop_spool_table(schema_editor: Any, model: type[models.Model]) -> None:
    """Drop ``model``'s spool table (reverse of ``create_spool_table``)."""
    statement = sql.SQL("DROP TABLE IF EXISTS {spool}").format(
        spool=sql.Identifier(spool_table(model))
    )
    schema_editor.execute(statement.as_string(schema_editor.connection.connection))
