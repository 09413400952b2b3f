"""Exceptions of audit_events.

Each refines a Django or database error, so handlers written for those still
catch it.
"""

from __future__ import annotations

from django.db import DatabaseError

__all__ = ["PartitioningError"]


class PartitioningError(DatabaseError):
    """A partition could not be created, moved or found; the message says why."""
