"""Event ids that carry their own timestamp.

An event id is a UUIDv7 (RFC 9562) whose time is the event's own
``timestamp``, to the microsecond: the 48-bit ``unix_ts_ms`` field holds the
milliseconds since the Unix epoch and the 12-bit ``rand_a`` field the
sub-millisecond fraction (RFC 9562 §6.2, method 3: ``ceil(µs * 4096 / 1000)``,
which ``floor(rand_a * 1000 / 4096)`` turns back into the exact microsecond);
the 62 bits of ``rand_b`` are random. A CHECK constraint on every event table
(``id_check_sql``) makes the database refuse a row whose ``timestamp`` is not
the time in its ``id``, whoever inserts it. So:

* ``(id, timestamp)``, the primary key, is unique exactly when ``id`` is, in
  the live and the archive table alike (a day is in one of them only);
* the primary key's order is time order (to the microsecond): a page of the
  newest events is a backward scan of the primary key, with no second index;
* the day of an event, and so its partition, is known from its id alone
  (``timestamp_of``).

``uuid7_for(timestamp)`` builds the id of an event at ``timestamp`` (an import
of events made elsewhere keeps their own ids beside ours). Timestamps before
the Unix epoch cannot be encoded and are refused.
"""

from __future__ import annotations

import datetime
import os
import time
import uuid

__all__ = [
    "EPOCH",
    "ID_CHECK_NAME",
    "ProvisionalId",
    "id_check_sql",
    "timestamp_of",
    "uuid7",
    "uuid7_for",
]

#: The name of the CHECK constraint, the same on every event table: PostgreSQL
#: matches a day table's constraints to its new parent's by name on ATTACH.
ID_CHECK_NAME = "audit_events_id_is_time"
#: Time zero of UUIDv7 ids; event timestamps start there.
EPOCH = datetime.datetime(1970, 1, 1, tzinfo=datetime.UTC)
_MAX_MILLIS = (1 << 48) - 1
_VERSION_BITS = 0x7 << 12
_VARIANT = 0b10 << 62
_RAND_B_MASK = (1 << 62) - 1
_ONE_MICROSECOND = datetime.timedelta(microseconds=1)


class ProvisionalId(uuid.UUID):
    """An id made by the field default, before the event's timestamp was final.

    Saving an event whose id is provisional gives it the id of its timestamp
    (``uuid7_for``), so setting ``timestamp`` after building an event (an import,
    a test) needs nothing more. An id the caller set is never replaced: it must
    match the timestamp (``audit_events.exceptions.EventIdMismatch`` otherwise).
    """

    __slots__ = ()


def _encode(micros: int, rand_b: int) -> int:
    millis, fraction = divmod(micros, 1000)
    if micros < 0 or millis > _MAX_MILLIS:
        raise ValueError(f"{micros} µs since 1970 cannot be encoded in a UUIDv7")
    rand_a = (fraction * 4096 + 999) // 1000  # ceil: decodes back to the exact µs
    return (millis << 80) | ((_VERSION_BITS | rand_a) << 64) | _VARIANT | rand_b


def _micros_of(timestamp: datetime.datetime) -> int:
    if not isinstance(timestamp, datetime.datetime) or timestamp.tzinfo is None:
        raise ValueError(f"an event id needs a timezone-aware datetime; got {timestamp!r}")
    return (timestamp - EPOCH) // _ONE_MICROSECOND


def uuid7_for(timestamp: datetime.datetime, cls: type[uuid.UUID] = uuid.UUID) -> uuid.UUID:
    """A new event id (UUIDv7) whose time is ``timestamp``, to the microsecond.

    Two calls with the same timestamp give different ids (62 random bits).
    ``cls`` is the class of the returned id (a ``uuid.UUID`` by default).

    Raises:
        ValueError: ``timestamp`` is naive, or before 1970-01-01 UTC (a UUIDv7
            counts from the Unix epoch).
    """
    micros = _micros_of(timestamp)
    if micros < 0:
        raise ValueError(
            f"Audit event timestamp {timestamp.isoformat()} is out of range: event ids "
            "(UUIDv7) count from 1970-01-01 UTC."
        )
    rand_b = int.from_bytes(os.urandom(8), "big") & _RAND_B_MASK
    return cls(int=_encode(micros, rand_b))


def uuid7() -> ProvisionalId:
    """The field default: an id for now, replaced by its timestamp's at save if they differ."""
    micros = time.time_ns() // 1000
    rand_b = int.from_bytes(os.urandom(8), "big") & _RAND_B_MASK
    return ProvisionalId(int=_encode(micros, rand_b))


def micros_of_id(value: uuid.UUID) -> int | None:
    """Microseconds since 1970 encoded in ``value``, or ``None`` if it is not a UUIDv7."""
    if value.version != 7:
        return None
    bits = value.int
    millis, rand_a = bits >> 80, (bits >> 64) & 0xFFF
    return millis * 1000 + rand_a * 1000 // 4096


def timestamp_of(value: uuid.UUID | str) -> datetime.datetime | None:
    """The timestamp of the event whose id is ``value`` (UTC), or ``None``.

    ``None`` when ``value`` is not a UUID or not a UUIDv7: no event has that id.
    """
    if not isinstance(value, uuid.UUID):
        try:
            value = uuid.UUID(str(value))
        except ValueError:
            return None
    micros = micros_of_id(value)
    if micros is None:
        return None
    return EPOCH + datetime.timedelta(microseconds=micros)


def id_matches(value: uuid.UUID, timestamp: datetime.datetime) -> bool:
    """Whether ``value`` is an id of an event at ``timestamp``, as the CHECK requires.

    The id's first 64 bits (time, version, fraction) must be those
    ``uuid7_for(timestamp)`` gives.
    """
    micros = _micros_of(timestamp)
    if micros < 0 or micros // 1000 > _MAX_MILLIS:
        return False
    return value.int >> 64 == _encode(micros, 0) >> 64


def id_check_sql(id_column: str, timestamp_column: str) -> str:
    """The CHECK expression: ``timestamp`` is the time encoded in ``id``.

    The columns must be quoted identifiers. The id's first 8 bytes (time,
    version, fraction) are compared with those computed from the timestamp;
    ``timestamp >= 1970`` keeps a negative time from wrapping around.
    """
    micros = f"(extract(epoch FROM {timestamp_column}) * 1000000)::bigint"
    prefix = (
        f"(({micros} / 1000) << 16) | {_VERSION_BITS} | ((mod({micros}, 1000) * 4096 + 999) / 1000)"
    )
    return (
        f"{timestamp_column} >= '1970-01-01 00:00:00+00'::timestamptz AND "
        f"substring(uuid_send({id_column}) FROM 1 FOR 8) = int8send({prefix})"
    )
