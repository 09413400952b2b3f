"""Fast synthetic events: whole days generated inside PostgreSQL.

Rows are made with ``INSERT ... SELECT ... generate_series`` straight into the
day's partition, so a million-row day takes seconds, not the minutes an
ORM loop would. Every row looks like an event an application records: a user,
a URL, a content object among 1,000, a small JSON content.
"""

from __future__ import annotations

import datetime
from typing import Any

from django.contrib.auth import get_user_model
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from psycopg import sql

from audit_events.partitions import create_day_partitions, day_bounds

__all__ = ["COLUMNS", "content_type_id", "fill_day", "fill_days"]

#: The columns of the default event model, in the order the generator fills them.
COLUMNS = (
    "id",
    "timestamp",
    "user_id",
    "username",
    "remote_addr",
    "url",
    "query_params",
    "post_data",
    "headers",
    "content_type_id",
    "object_id",
    "content",
)

# g is the row number; bounds, step and counts come in as parameters.
_GENERATED = sql.SQL(
    "SELECT audit_events_uuid7(t.ts), t.ts,"
    " mod(g, %(users)s) + 1, 'user' || mod(g, %(users)s), '192.0.2.1'::inet,"
    " '/things/' || mod(g, %(objects)s) || '/', '{}', '{}', '{}', %(content_type)s,"
    " mod(g, %(objects)s)::text, jsonb_build_object('action', 'updated', 'n', g)"
    " FROM generate_series(0, %(rows)s - 1) AS g, LATERAL (SELECT %(start)s::timestamptz"
    " + (g::bigint * %(step)s::bigint) * interval '1 microsecond') AS t(ts)"
)


def content_type_id() -> int:
    """The content type the generated events point at (the user model)."""
    return int(ContentType.objects.get_for_model(get_user_model()).pk)


def _insert(
    table: str,
    start: datetime.datetime,
    span: datetime.timedelta,
    rows: int,
    objects: int = 1000,
    users: int = 100,
) -> None:
    statement = sql.SQL("INSERT INTO {} ({}) ").format(
        sql.Identifier(table), sql.SQL(", ").join([sql.Identifier(c) for c in COLUMNS])
    )
    params: dict[str, Any] = {
        "start": start,
        "step": int(span / datetime.timedelta(microseconds=1)) // max(rows, 1),
        "rows": rows,
        "objects": objects,
        "users": users,
        "content_type": content_type_id(),
    }
    with connection.cursor() as cursor:
        cursor.execute((statement + _GENERATED).as_string(connection.connection), params)


def fill_day(model: Any, day: datetime.date, rows: int) -> str:
    """Create ``model``'s partition for ``day`` and put ``rows`` events in it; its name."""
    [partition] = create_day_partitions(model, day, day)
    start, end = day_bounds(day)
    _insert(partition.split(".")[-1].strip('"'), start, end - start, rows)
    return partition


def fill_days(
    model: Any,
    first: datetime.date,
    last: datetime.date,
    rows_per_day: int,
    objects: int,
    users: int,
) -> None:
    """Put ``rows_per_day`` events in every day from ``first`` to ``last`` (partitions exist).

    One statement through the parent, which routes each row to its day.
    """
    start = day_bounds(first)[0]
    span = day_bounds(last)[1] - start
    days = (last - first).days + 1
    _insert(model._meta.db_table, start, span, rows_per_day * days, objects, users)
