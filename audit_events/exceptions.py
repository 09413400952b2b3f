"""Exceptions of audit_events.

Each refines a Django or database error, so handlers written for those still
catch it.
"""

from __future__ import annotations

from django.db import DatabaseError

__all__ = ["PartitioningError", "RotationInProgress"]


class PartitioningError(DatabaseError):
    """A partition could not be created, moved or found; the message says why."""


class RotationInProgress(PartitioningError):
    """Another rotation or archive run holds the maintenance lock of this table.

    Nothing was done. Not a failure: the other run does the work, so the
    commands report it and exit with status 0.
    """
