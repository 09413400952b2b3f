"""Writing many events at once: one ``COPY`` per day and batch, not one ``INSERT`` per event.

``AuditContext.create_event`` costs one round trip per event, which is right
for the event a request records. An import, a backfill or a job that audits
thousands of objects pays that round trip thousands of times;
``bulk_create_events`` streams the rows with ``COPY ... FROM STDIN`` instead
(see docs/performance.md for measurements).

Nothing is lost when a day has no partition: rows are grouped by UTC day and
each group is copied inside a savepoint. If PostgreSQL refuses the group
because its day has no partition (rotation has not run, an import writes old
dates, or a concurrent archive just detached the day), the savepoint is rolled
back and the group's events go to the spool table, exactly as
``AbstractAuditEvent.save()`` does for a single event (``audit_events.spool``).
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, TypeVar

from django.db import connections, router, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.models import Field
from django.db.utils import IntegrityError, InternalError
from psycopg import sql

from audit_events import spool
from audit_events.distribution import raise_without_shard_names
from audit_events.models import AbstractArchivedAuditEvent, AbstractAuditEvent
from audit_events.ondemand import make_day
from audit_events.partitions import partition_day, table_of
from audit_events.rows import converter

__all__ = ["DEFAULT_BATCH_SIZE", "bulk_create_events"]

#: Rows per ``COPY`` statement (and per savepoint) when no ``batch_size`` is given.
DEFAULT_BATCH_SIZE = 5000

E = TypeVar("E", bound=AbstractAuditEvent)


def bulk_create_events(
    events: Iterable[E], using: str | None = None, batch_size: int = DEFAULT_BATCH_SIZE
) -> list[E]:
    """Store many unsaved audit events with ``COPY``, in one transaction.

    Events are built as usual, e.g. with ``AuditContext().new_event()`` or
    ``get_audit_event_model()(content_object=obj, content={...})``; their
    field defaults (id, timestamp) are already set at that point (an event
    whose ``timestamp`` is changed afterwards gets the id of its new time). Like
    ``QuerySet.bulk_create``, no ``pre_save``/``post_save`` signals are sent
    for the rows that are copied. An event whose day has no partition is kept
    in the spool table (which sends ``post_save`` for it, as ``save()`` does).

    Args:
        events: unsaved instances of one audit event model (not the archive model).
        using: the database alias; by default the router's choice for writes.
        batch_size: the most rows per ``COPY`` statement.

    Returns:
        The events, in the order given, now marked as saved.

    Raises:
        TypeError: an item is not an audit event, or the events are of
            different models, or of the archive model.
        ValueError: an event is already saved or has no timezone-aware
            timestamp, or ``batch_size`` is less than 1.
        audit_events.exceptions.EventIdMismatch: an event's id was set by
            hand and is not an id of its timestamp; nothing was stored.
        django.db.DatabaseError: PostgreSQL refused a row for another reason
            than a missing partition; nothing was stored.
    """
    if not isinstance(batch_size, int) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer; got {batch_size!r}.")
    items = list(events)
    if not items:
        return items
    model = _common_model(items)
    alias = using or router.db_for_write(model, instance=items[0])
    connection = connections[alias]
    writer = _CopyWriter(model, connection)
    try:
        with transaction.atomic(using=alias):
            for _day, group in _by_day(items, writer):
                for start in range(0, len(group), batch_size):
                    writer.write(group[start : start + batch_size])
    except BaseException:
        # A later batch failed: the earlier ones (and any spooled event) were
        # rolled back with it, so every event stays unsaved, to be passed again.
        for event in items:
            event._state.adding, event._state.db = True, None
        raise
    for event in items:
        event._state.adding, event._state.db = False, alias
    return items


def _common_model(events: Sequence[Any]) -> type[AbstractAuditEvent]:
    """The model of ``events``, after checking they are all unsaved events of one model."""
    model = type(events[0])
    for event in events:
        if not isinstance(event, AbstractAuditEvent):
            raise TypeError(
                f"bulk_create_events() takes unsaved audit event instances; got {event!r} "
                f"({type(event).__name__})."
            )
        if type(event) is not model:
            raise TypeError(
                "bulk_create_events() takes events of one model; got "
                f"{model._meta.label} and {type(event)._meta.label}. Call it once per model."
            )
        if not event._state.adding:
            raise ValueError(f"Audit event {event.pk} is already saved; pass only new events.")
    if issubclass(model, AbstractArchivedAuditEvent):
        raise TypeError(
            f"bulk_create_events() writes live events, not {model._meta.label}: events reach "
            "the archive by archiving their day."
        )
    return model


def _by_day(events: list[E], writer: _CopyWriter) -> Iterator[tuple[datetime.date, list[E]]]:
    """``events`` grouped by UTC day of their timestamp (days in order of appearance)."""
    groups: dict[datetime.date, list[E]] = {}
    for event in events:
        groups.setdefault(writer.day_of(event), []).append(event)
    yield from groups.items()


class _CopyWriter:
    """Turns events into rows and copies them into one model's table."""

    def __init__(self, model: type[AbstractAuditEvent], connection: BaseDatabaseWrapper) -> None:
        self.model = model
        self.connection = connection
        self.fields: list[Field[Any, Any]] = list(model._meta.concrete_fields)
        self.timestamp_field = model._meta.get_field("timestamp")
        self.converters = [converter(f, connection) for f in self.fields]
        self.statement = sql.SQL("COPY {table} ({columns}) FROM STDIN").format(
            table=sql.Identifier(table_of(model)),
            columns=sql.SQL(", ").join([sql.Identifier(str(f.column)) for f in self.fields]),
        )

    def day_of(self, event: AbstractAuditEvent) -> datetime.date:
        timestamp = getattr(event, self.timestamp_field.attname)
        if not isinstance(timestamp, datetime.datetime) or timestamp.tzinfo is None:
            raise ValueError(
                f"Audit event {event.pk} has timestamp {timestamp!r}; it needs a timezone-aware "
                "datetime (leave it unset to get the current time)."
            )
        return partition_day(timestamp)

    def row(self, event: AbstractAuditEvent) -> list[Any]:
        event.settle_id()  # the id of its timestamp (EventIdMismatch for a wrong one)
        return [convert(event) for convert in self.converters]

    def write(self, events: Sequence[AbstractAuditEvent]) -> None:
        """Copy ``events`` (one day) in a savepoint; spool them if the day has no partition."""
        try:
            self._copy(events)
        except (IntegrityError, InternalError) as exc:  # InternalError: relayed by Citus
            if not spool.is_missing_partition_error(exc):
                raise_without_shard_names(exc, type(events[0]))  # on Citus, errors name shards
                raise
            if not self._copy_to_new_day(events, self.day_of(events[0])):
                self._spool(events)

    def _copy_to_new_day(self, events: Sequence[AbstractAuditEvent], day: datetime.date) -> bool:
        """Copy ``events`` into the day made on the spot (``audit_events.ondemand``)."""
        target = make_day(self.model, day, self.connection.alias)
        if target is None:
            return False
        try:
            self._copy(events, table_of(target))
        except (IntegrityError, InternalError) as exc:
            if not spool.is_missing_partition_error(exc):
                raise
            return False
        return True

    def _copy(self, events: Sequence[AbstractAuditEvent], table: str | None = None) -> None:
        connection = self.connection
        statement = self.statement
        if table is not None:
            statement = sql.SQL("COPY {table} ({columns}) FROM STDIN").format(
                table=sql.Identifier(table),
                columns=sql.SQL(", ").join([sql.Identifier(str(f.column)) for f in self.fields]),
            )
        # The savepoint lets a refused day roll back alone, leaving the caller's
        # transaction (and the other days of this call) intact. Each row is made
        # as it is sent, not all first: the server stores rows while the next
        # ones are made (0.89x a COPY of rows made beforehand, against 1.83x
        # when every row of the batch was made first; docs/performance.md).
        with (
            transaction.atomic(using=connection.alias),
            connection.cursor() as cursor,
            connection.wrap_database_errors,
            cursor.copy(statement) as copy,
        ):
            write_row, row = copy.write_row, self.row
            for event in events:
                write_row(row(event))

    def _spool(self, events: Sequence[AbstractAuditEvent]) -> None:
        # spool.py has no public entry point for an unsaved event yet; its
        # single-event path is the one save() uses, so both stay identical.
        for event in events:
            spool._spool_event(event, self.connection.alias)
