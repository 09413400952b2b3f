"""Locks: the rotation's advisory lock, and DDL retried under a short ``lock_timeout``.

A DDL statement waiting for a lock on a busy table makes every later insert and
select on that table queue behind it, so each try gives up after
``AUDIT_LOCK_TIMEOUT_MS`` and is retried with backoff, up to
``AUDIT_DDL_RETRIES`` times. Two maintenance runs must not interleave their
steps, so a run holds a session-level advisory lock for its whole duration;
PostgreSQL releases it when the session ends, even if the process is killed.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import Any, TypeVar

from audit_events.conf import settings
from audit_events.exceptions import PartitioningError, RotationInProgress

__all__ = [
    "ADVISORY_LOCK_CLASS",
    "is_lock_timeout",
    "release_rotation_lock",
    "retry_on_lock_timeout",
    "try_rotation_lock",
]

logger = logging.getLogger("audit_events")

T = TypeVar("T")

#: First key of every advisory lock audit_events takes ("AUDT" in ASCII), so that
#: our locks are told apart from the application's in ``pg_locks`` (classid).
ADVISORY_LOCK_CLASS = 0x41554454

# SQLSTATE 55P03: lock_not_available, raised when lock_timeout expires.
_LOCK_NOT_AVAILABLE = "55P03"
# SQLSTATE 40P01: deadlock_detected.
_DEADLOCK_DETECTED = "40P01"
# SQLSTATE 57014: query_canceled, raised (among others) when statement_timeout expires.
_QUERY_CANCELED = "57014"


def is_lock_timeout(exc: BaseException) -> bool:
    """Whether ``exc`` (a psycopg or Django database error) is a ``lock_timeout`` expiry.

    On Citus maintenance statements are bounded by ``statement_timeout`` instead
    (``sql/step_statements.sql``): its expiry counts too, and so does a deadlock:
    Citus' distributed deadlock detector cancels DDL that waits on a worker behind
    a transaction it cannot see through (e.g. one whose coordinator session was
    just killed). The whole transaction was rolled back: trying again is safe.
    """
    for error in (exc, exc.__cause__):
        sqlstate = getattr(error, "sqlstate", None)
        if sqlstate in (_LOCK_NOT_AVAILABLE, _DEADLOCK_DETECTED):
            return True
        if sqlstate == _QUERY_CANCELED and "statement timeout" in str(error):
            return True
    return False


def retry_on_lock_timeout(
    work: Callable[[], T], what: str, before_retry: Callable[[], None] | None = None
) -> T:
    """Call ``work()``, trying again with backoff while it fails on ``lock_timeout``.

    Args:
        work: runs the statement(s); it must set its own ``lock_timeout``.
        what: names the step in log messages and errors.
        before_retry: called before each new try (to re-read the catalog).

    Returns:
        What ``work`` returned.

    Raises:
        PartitioningError: every try timed out; a long transaction holds the table.
    """
    attempts = settings.AUDIT_DDL_RETRIES + 1
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except Exception as exc:
            if not is_lock_timeout(exc):
                raise
            logger.warning(
                "audit_events: %s: lock not available (try %d of %d): %s",
                what,
                attempt,
                attempts,
                str(exc).partition("\n")[0],
            )
        if attempt < attempts:
            time.sleep(min(0.1 * 2**attempt, 5.0))
            if before_retry is not None:
                before_retry()
    raise PartitioningError(
        f"{what}: could not get a lock within {settings.AUDIT_LOCK_TIMEOUT_MS} ms after "
        f"{attempts} tries; a long transaction holds the table. Try again later, or raise "
        "AUDIT_LOCK_TIMEOUT_MS / AUDIT_DDL_RETRIES."
    )


def try_rotation_lock(cursor: Any, table: str) -> None:
    """Take the session-level advisory lock of ``table``'s maintenance, or raise.

    The key is ``(ADVISORY_LOCK_CLASS, hashtext(table))``: one lock per event
    table, so two event models rotate independently.

    Raises:
        RotationInProgress: another session holds the lock.
    """
    cursor.execute("SELECT pg_try_advisory_lock(%s, hashtext(%s))", [ADVISORY_LOCK_CLASS, table])
    if not cursor.fetchone()[0]:
        raise RotationInProgress(
            f"another rotation is running for {table} (advisory lock "
            f"({ADVISORY_LOCK_CLASS}, hashtext('{table}')) is held); nothing was done."
        )


def release_rotation_lock(cursor: Any, table: str) -> None:
    """Release the lock taken by ``try_rotation_lock``."""
    cursor.execute("SELECT pg_advisory_unlock(%s, hashtext(%s))", [ADVISORY_LOCK_CLASS, table])
