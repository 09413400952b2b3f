"""Time limits for reads that viewers start (admin pages, API requests).

A viewer may ask for a view across every day (one user's events, the API's
list without ``since``): it is bounded in rows by its page, and in time by
``statement_timeout`` set for its own transaction only (``set_config(...,
true)``, PostgreSQL's ``SET LOCAL``), so a slow or blocked read is stopped
instead of holding a connection and a worker.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from django.db import OperationalError, connections, transaction

__all__ = ["QUERY_CANCELED", "is_query_canceled", "statement_timeout"]

#: SQLSTATE of a statement stopped by statement_timeout (query_canceled).
QUERY_CANCELED = "57014"


@contextmanager
def statement_timeout(using: str, milliseconds: int) -> Iterator[None]:
    """A transaction on ``using`` whose statements may each run ``milliseconds`` at most.

    Raises:
        django.db.OperationalError: a statement ran out of time (see ``is_query_canceled``).
    """
    with transaction.atomic(using=using):
        with connections[using].cursor() as cursor:
            cursor.execute(
                "SELECT set_config('statement_timeout', %s, true)", [f"{int(milliseconds)}ms"]
            )
        yield


def is_query_canceled(exc: OperationalError) -> bool:
    """Whether ``exc`` is PostgreSQL stopping a statement (statement_timeout, cancel request)."""
    return getattr(exc.__cause__, "sqlstate", None) == QUERY_CANCELED
