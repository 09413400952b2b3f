"""Read-your-writes for any date: the writer makes a missing day on the spot.

An event whose UTC day has no partition used to wait in the spool until the
next rotation, invisible to ``AuditEvent.objects``. Now the writer first tries
to make the day itself, on a short autocommit connection of its own under
``AUDIT_LOCK_TIMEOUT_MS``, with the same SQL function rotation uses
(``audit_events_create_day_partition``, which never takes ACCESS EXCLUSIVE on
the parent), then stores the event there:

* a day within ``AUDIT_ARCHIVE_AFTER_DAYS`` becomes a live partition;
* an older day becomes an archive partition, recorded in the ``ArchivedDay``
  ledger in the same transaction (as archiving would), and the event goes into
  the archive table, where ``ArchivedAuditEvent.objects`` finds it at once.

The spool stays the last resort, and stays lossless: when the role may not
create tables (the application role of the two-role setup), when the lock
cannot be had in time, when the day is already an archived day (rotation
files late events there), or with ``AUDIT_CREATE_DAYS_ON_WRITE = False``.
"""

from __future__ import annotations

import datetime
import logging
import threading
from collections.abc import Callable

import psycopg
from django.db import DatabaseError, connections, models, transaction
from django.db.utils import IntegrityError
from psycopg import sql

from audit_events.conf import settings
from audit_events.partitions import bound_ddl_on_workers, partition_day, table_of, utc_today

__all__ = ["make_day", "write_to_new_day"]

logger = logging.getLogger("audit_events")

_warned_lock = threading.Lock()
_warned: set[tuple[str, datetime.date | None]] = set()


def warn_once(table: str, day: datetime.date | None, message: str, *args: object) -> None:
    """Log ``message`` at WARNING once per table, day and process."""
    with _warned_lock:
        if (table, day) in _warned:
            return
        _warned.add((table, day))
    logger.warning(message, *args)


def forget_warnings() -> None:
    """Forget which days were warned about (tests)."""
    with _warned_lock:
        _warned.clear()


def make_day(
    model: type[models.Model], day: datetime.date, using: str
) -> type[models.Model] | None:
    """Make ``day`` exist for events of live ``model``; return the model whose table holds it.

    Returns the live model, the archive model (for a day past the archive age),
    or ``None`` when the day could not be made here (the caller spools).
    """
    from audit_events.models import get_audit_event_archive_model, get_audit_event_model

    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    if not settings.AUDIT_CREATE_DAYS_ON_WRITE or model is not live:
        return None
    old = day < utc_today() - datetime.timedelta(days=settings.AUDIT_ARCHIVE_AFTER_DAYS)
    target = archive if old else live
    try:
        made = _create(using, live, archive, target, day)
    except (psycopg.Error, DatabaseError) as exc:
        from audit_events.spool import spool_table

        warn_once(  # the spool's own warning for the day shares this key: one line
            spool_table(live),
            day,
            "audit_events: could not make the day %s of %s on the spot (%s); its events go to "
            "the spool until rotation",
            day,
            table_of(target),
            str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__,
        )
        return None
    from audit_events.spool import forget_partitioned_days

    forget_partitioned_days()
    return made


def _create(
    using: str,
    live: type[models.Model],
    archive: type[models.Model],
    target: type[models.Model],
    day: datetime.date,
) -> type[models.Model] | None:
    """Create the day on a new autocommit connection: one short transaction."""
    from audit_events.models import ArchivedDay

    # A connection of its own (same settings): the caller's may be inside a transaction.
    wrapper = connections[using].copy()
    try:
        wrapper.ensure_connection()
        quote = wrapper.ops.quote_name
        pg: psycopg.Connection[tuple[object, ...]] = wrapper.connection
        with pg.transaction():
            pg.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                [f"{settings.AUDIT_LOCK_TIMEOUT_MS}ms"],
            )
            bound_ddl_on_workers(pg, quote(table_of(target)))
            held = pg.execute(
                "SELECT audit_events_partition_for_day(%s::regclass, %s) IS NOT NULL, "
                "audit_events_partition_for_day(%s::regclass, %s) IS NOT NULL",
                [quote(table_of(live)), day, quote(table_of(archive)), day],
            ).fetchone()
            if held is None or held[1]:
                return None  # an archived day: rotation files late events there
            if held[0]:
                return live  # made meanwhile by someone else
            pg.execute(
                "SELECT audit_events_create_day_partition(%s::regclass, %s)",
                [quote(table_of(target)), day],
            )
            if target is archive:
                ledger = sql.SQL(
                    "INSERT INTO {} (archive_table, day, archived_at, row_count, digest) "
                    "VALUES (%s, %s, now(), NULL, '') ON CONFLICT DO NOTHING"
                ).format(sql.Identifier(ArchivedDay._meta.db_table))
                pg.execute(ledger, [table_of(archive), day])
    finally:
        wrapper.close()
    logger.info("audit_events: made the day %s of %s for an event written to it", day, target)
    return target


def write_to_new_day(event: models.Model, using: str, write: Callable[[], None]) -> bool:
    """Store ``event``, refused for want of a partition, in the day made on the spot.

    ``write`` stores it in its own model's table. Returns whether it is stored
    (``False``: the caller spools it).
    """
    from audit_events.rows import insert_event
    from audit_events.spool import is_missing_partition_error

    model = type(event)
    timestamp = getattr(event, "timestamp", None)
    if not isinstance(timestamp, datetime.datetime) or timestamp.tzinfo is None:
        return False
    target = make_day(model, partition_day(timestamp), using)
    if target is None:
        return False
    try:
        with transaction.atomic(using=using):
            if target is model:
                write()
            else:
                fields = model._meta.concrete_fields
                copy = target(**{f.attname: getattr(event, f.attname) for f in fields})
                insert_event(copy, using)
    except IntegrityError as exc:
        if not is_missing_partition_error(exc):
            raise
        return False  # the day went away meanwhile (archived): spool
    event._state.adding = False
    event._state.db = using
    return True
