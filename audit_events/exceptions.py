"""Exceptions of audit_events.

Each refines a Django or database error, so handlers written for those still
catch it.
"""

from __future__ import annotations

from django.db import DatabaseError, IntegrityError, ProgrammingError

__all__ = ["AppendOnlyError", "EventIdMismatch", "PartitioningError", "RotationInProgress"]


class AppendOnlyError(ProgrammingError):
    """A stored audit event was about to be changed or deleted; events are append-only.

    The database refuses the same with SQLSTATE 42501 (insufficient_privilege),
    which Django raises as ``ProgrammingError`` too (see audit_events.guard).
    """


class PartitioningError(DatabaseError):
    """A partition could not be created, moved or found; the message says why."""


class RotationInProgress(PartitioningError):
    """Another rotation or archive run holds the maintenance lock of this table.

    Nothing was done. Not a failure: the other run does the work, so the
    commands report it and exit with status 0.
    """


class EventIdMismatch(IntegrityError):
    """An event's id was set by hand and is not an id of its ``timestamp``.

    An event id carries the event's time (``audit_events.ids``); build it with
    ``audit_events.ids.uuid7_for(timestamp)``, or leave it unset. The database
    refuses such a row too (CHECK ``audit_events_id_is_time``, SQLSTATE 23514).
    """
