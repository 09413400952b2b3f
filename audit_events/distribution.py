"""Citus: the event tables distributed by a column, detected at run time.

On a Citus cluster the live and archive tables are distributed by a column of
the project's choice (usually a tenant column of a swapped event model, see
docs/scaling.md) with ``DistributeByColumn``, colocated so that a day's
partition moves between them shard by shard on each worker, still without a
row copied. Nothing else is configured: the maintenance plan asks the catalog
whether the live table is distributed (``sql/is_distributed.sql``) and then
sends plain ``DETACH`` (Citus refuses ``CONCURRENTLY``), one transaction per
step, and a ``lock_timeout`` that reaches the workers
(``sql/step_statements.sql``). On plain PostgreSQL all of this is a no-op.
"""

from __future__ import annotations

import logging
import re
from typing import Any

from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import sql

from audit_events.partitions import column_of, index_statements, short_name, table_of

__all__ = [
    "citus_installed",
    "distribute_statements",
    "is_distributed",
    "raise_without_shard_names",
    "shard_error_message",
    "undistribute_statements",
]

logger = logging.getLogger("audit_events")


def citus_installed(connection: BaseDatabaseWrapper) -> bool:
    """Whether the ``citus`` extension is created in ``connection``'s database."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT EXISTS (SELECT FROM pg_extension WHERE extname = 'citus')")
        return bool(cursor.fetchone()[0])


def is_distributed(model: type[models.Model], using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether ``model``'s table is a Citus distributed table (never on plain PostgreSQL)."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT audit_events_is_distributed(%s::regclass)",
            [connection.ops.quote_name(table_of(model))],
        )
        return bool(cursor.fetchone()[0])


def _primary_key(table: str, columns: list[str]) -> sql.Composed:
    """Replace ``table``'s primary key by one on ``columns`` (same constraint name)."""
    name = sql.Identifier(short_name(table, "_pkey"))
    return sql.SQL(
        "ALTER TABLE {table} DROP CONSTRAINT {name}, ADD CONSTRAINT {name} PRIMARY KEY ({columns})"
    ).format(
        table=sql.Identifier(table),
        name=name,
        columns=sql.SQL(", ").join(sql.Identifier(c) for c in columns),
    )


# Run before distributing, while every table is local (no Citus involved): each
# archive day is detached (its share of the parent's indexes and key becomes its
# own), the parent's key and indexes are dropped, and the day is attached again.
_DROP_PARENT_INDEXES = """
DO $drop$
DECLARE
    parent regclass := {parent};
    days regclass[];
    bounds text[];
    n integer;
    obj record;
BEGIN
    SELECT coalesce(pg_catalog.array_agg(i.inhrelid::regclass ORDER BY i.inhrelid), '{{}}'),
           coalesce(pg_catalog.array_agg(pg_catalog.pg_get_expr(c.relpartbound, c.oid)
                                         ORDER BY i.inhrelid), '{{}}')
    INTO days, bounds
    FROM pg_catalog.pg_inherits AS i JOIN pg_catalog.pg_class AS c ON c.oid = i.inhrelid
    WHERE i.inhparent = parent;
    FOR n IN 1 .. pg_catalog.cardinality(days) LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s DETACH PARTITION %s', parent, days[n]);
    END LOOP;
    FOR obj IN SELECT conname FROM pg_catalog.pg_constraint
               WHERE conrelid = parent AND contype IN ('p', 'u', 'x') LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', parent, obj.conname);
    END LOOP;
    FOR obj IN SELECT indexrelid::regclass AS name FROM pg_catalog.pg_index
               WHERE indrelid = parent LOOP
        EXECUTE pg_catalog.format('DROP INDEX %s', obj.name);
    END LOOP;
    FOR n IN 1 .. pg_catalog.cardinality(days) LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s ATTACH PARTITION %s %s', parent, days[n],
                                  bounds[n]);
    END LOOP;
END
$drop$
"""


def _without_parent_indexes(table: str) -> sql.Composed:
    """Leave ``table`` (a partitioned table) with no index of its own; its days keep theirs.

    On Citus, every ATTACH to a parent with indexes renames the new shards'
    indexes, visiting (and locking) every index of every partition of the
    parent on every worker (``FixPartitionShardIndexNames``): an archive ATTACH
    then grows with the archive. Without indexes on the parent that step is
    skipped; each day keeps its own indexes and primary key (made while it was
    live), which the planner uses for reads as before, and which enforce the key
    within the day (the key holds the timestamp, so per day is everywhere).
    """
    return sql.SQL(_DROP_PARENT_INDEXES).format(parent=sql.Literal(table))


def distribute_statements(
    live: type[models.Model],
    archive: type[models.Model],
    field_name: str,
    shard_count: int | None = None,
) -> list[sql.Composable]:
    """The statements that distribute ``live`` and ``archive`` by ``field_name``'s column.

    Citus only enforces a primary key that includes the distribution column, so
    the key becomes ``(column, id, timestamp)`` on both tables first; the
    archive parent then keeps no index of its own (its days keep theirs, see
    ``_without_parent_indexes``), so that archiving a day costs the same
    whatever the archive's size; then the live table is distributed and the
    archive colocated with it (same shard count, same placements: ATTACH across
    them moves no row).
    """
    column = column_of(live, field_name)
    key = [column, column_of(live), column_of(live, "timestamp")]
    shards = (
        sql.SQL("")
        if shard_count is None
        else sql.SQL(", shard_count => {}").format(sql.Literal(int(shard_count)))
    )
    return [
        # Citus refuses to distribute a table with triggers (and every new day
        # inherits the append-only row trigger) unless this is on. The guard is
        # safe to run on shards: it only raises, it reads no other table.
        sql.SQL("SET LOCAL citus.enable_unsafe_triggers = on"),
        sql.SQL(
            "DO $$BEGIN EXECUTE format('ALTER DATABASE %I SET citus.enable_unsafe_triggers = on', "
            "current_database()); END$$"
        ),
        _primary_key(table_of(live), key),
        _primary_key(table_of(archive), key),
        _without_parent_indexes(table_of(archive)),
        sql.SQL("SELECT create_distributed_table({live}, {column}{shards})").format(
            live=sql.Literal(table_of(live)), column=sql.Literal(column), shards=shards
        ),
        sql.SQL(
            "SELECT create_distributed_table({archive}, {column}, colocate_with => {live})"
        ).format(
            archive=sql.Literal(table_of(archive)),
            column=sql.Literal(column),
            live=sql.Literal(table_of(live)),
        ),
    ]


def undistribute_statements(
    live: type[models.Model], archive: type[models.Model]
) -> list[sql.Composable]:
    """The statements that turn both tables back into local tables, keyed ``(id, timestamp)``.

    ``undistribute_table`` copies every row back to the coordinator: it takes as
    long as the data is large, and needs the disk for it.
    """
    key = [column_of(live), column_of(live, "timestamp")]
    table = table_of(archive)
    return [
        sql.SQL("SET LOCAL citus.enable_unsafe_triggers = on"),
        sql.SQL("SELECT undistribute_table({})").format(sql.Literal(table)),
        sql.SQL("SELECT undistribute_table({})").format(sql.Literal(table_of(live))),
        _primary_key(table_of(live), key),
        # The archive parent gets its key and lookup indexes back; each day's own
        # key (the old one) goes first, its other indexes are attached as they are.
        sql.SQL(_DROP_DAY_KEYS).format(parent=sql.Literal(table)),
        sql.SQL("ALTER TABLE {table} ADD CONSTRAINT {name} PRIMARY KEY ({columns})").format(
            table=sql.Identifier(table),
            name=sql.Identifier(short_name(table, "_pkey")),
            columns=sql.SQL(", ").join(sql.Identifier(c) for c in key),
        ),
        *index_statements(archive),
    ]


_DROP_DAY_KEYS = """
DO $keys$
DECLARE
    obj record;
BEGIN
    FOR obj IN SELECT k.conrelid::regclass AS day, k.conname
               FROM pg_catalog.pg_inherits AS i
               JOIN pg_catalog.pg_constraint AS k ON k.conrelid = i.inhrelid
               WHERE i.inhparent = {parent}::regclass AND k.contype = 'p' LOOP
        EXECUTE pg_catalog.format('ALTER TABLE %s DROP CONSTRAINT %I', obj.day, obj.conname);
    END LOOP;
END
$keys$
"""


def run_statements(schema_editor: Any, statements: list[sql.Composable]) -> None:
    """Run ``statements`` with a migration's ``schema_editor``."""
    for statement in statements:
        schema_editor.execute(statement.as_string(schema_editor.connection.connection), None)


# A quoted name followed by a Citus shard id: "swapapp_tenantevent_p20250102_102009".
_SHARD_NAME = re.compile(r'"(?P<name>[^"]+?)_(?P<shard>[0-9]{6,})"')


def shard_error_message(message: str, tables: list[str]) -> str:
    """``message`` with every Citus shard name of ``tables`` replaced by its own name.

    Errors raised on a worker name the shard they happened in, e.g. ``no
    partition of relation "audit_event_102009" found for row`` or ``duplicate
    key value violates unique constraint "audit_event_pkey_102041"``; the
    application only knows ``audit_event`` (and its day tables and indexes).
    """

    def unsharded(match: re.Match[str]) -> str:
        name = match.group("name")
        if any(name.startswith(table) for table in tables):
            return f'"{name}"'
        return match.group(0)

    return _SHARD_NAME.sub(unsharded, message)


def raise_without_shard_names(exc: DatabaseError, model: type[models.Model]) -> None:
    """Raise ``exc`` again, as the same class, if its message names a shard of ``model``.

    Returns (raising nothing) when the message names no shard, e.g. on plain
    PostgreSQL; the original error stays reachable as ``__cause__``.
    """
    message = str(exc)
    translated = shard_error_message(message, [table_of(model)])
    if translated != message:
        raise type(exc)(translated) from exc
