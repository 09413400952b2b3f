"""Celery tasks (Celery is optional: without it these are plain functions).

Schedule ``rotate_audit_partitions`` daily with Celery beat (see
docs/operations.md); ``archive_old_audit_events`` keeps the name and signature
of django-audit-events' task.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, TypeVar

from audit_events.exceptions import RotationInProgress
from audit_events.lifecycle import archive_older_than, rotate

__all__ = ["archive_old_audit_events", "rotate_audit_partitions"]

logger = logging.getLogger("audit_events")

F = TypeVar("F", bound=Callable[..., Any])

try:
    from celery import shared_task  # type: ignore[import-untyped]
except ImportError:  # Celery is an optional dependency.
    shared_task = None


def _task(func: F) -> F:
    if shared_task is None:
        return func
    return shared_task(name=f"audit_events.tasks.{func.__name__}")(func)  # type: ignore[no-any-return]


@_task
def archive_old_audit_events(older_than: int = 90) -> list[str]:
    """Move days older than ``older_than`` days to the archive table (no row is copied).

    Returns:
        One line per step (empty when another run holds the lock).
    """
    try:
        return [str(step) for step in archive_older_than(older_than)]
    except RotationInProgress as exc:
        logger.info("audit_events: %s", exc)
        return []


@_task
def rotate_audit_partitions() -> list[str]:
    """Run one rotation (``audit_events.lifecycle.rotate``).

    Returns:
        One line per step (empty when another run holds the lock).
    """
    try:
        return [str(step) for step in rotate()]
    except RotationInProgress as exc:
        logger.info("audit_events: %s", exc)
        return []
