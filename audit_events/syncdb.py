"""Partitioned storage for databases built without migrations.

Test suites often disable migrations (pytest-django's ``--nomigrations``, a
``MIGRATION_MODULES`` that maps every app to ``None``, django-audit-events' own
``runtests.py``). Django then creates every model's table as a plain table
("syncdb") and sends ``post_migrate``. On that signal, ``install_storage``
finishes what our migrations would have done: it installs the SQL functions
and rebuilds the event tables, still empty, as day-partitioned ones with the
same code the ``PartitionByDay`` and ``AppendOnly`` operations run. With
migrations on, the tables are already partitioned and it does nothing.
"""

from __future__ import annotations

import logging
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models, router
from psycopg import sql

from audit_events.guard import GUARD_FILES, install_statements
from audit_events.partitions import partition_table, premake_in_migration, table_of
from audit_events.sqlfiles import FUNCTION_FILES, read_sql
from audit_events.tamper import DIGEST_FILES, SEAL_FILES

__all__ = ["install_storage", "storage_problem"]

logger = logging.getLogger("audit_events")

#: One function of each group of SQL files: if any is missing, all are installed.
_PROBES = (
    "audit_events_partition_bounds",
    "audit_events_create_day_partition",
    "audit_events_append_only_guard",
    "audit_events_day_digest",
)


def install_storage(using: str = DEFAULT_DB_ALIAS, **kwargs: Any) -> list[str]:
    """Partition the event tables that ``migrate --run-syncdb`` created as plain tables.

    Connected to ``post_migrate`` (``AuditEventsConfig.ready``). Idempotent: a
    partitioned table, a missing table or a plain table that already holds rows
    is left alone (the latter with a warning).

    Returns:
        The tables it partitioned.
    """
    from audit_events.models import get_audit_event_archive_model, get_audit_event_model

    connection = connections[using]
    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    if connection.vendor != "postgresql" or not router.allow_migrate_model(using, live):
        return []
    plain = [m for m in (archive, live) if _is_plain_empty_table(using, m)]
    if not plain:
        return []
    _install_functions(using)
    with connection.schema_editor() as editor:
        for model in plain:
            _partition(editor, model, live=model is live)
    logger.info("audit_events: partitioned %s (migrations disabled)", [table_of(m) for m in plain])
    return [table_of(m) for m in plain]


def storage_problem(using: str, model: type[models.Model]) -> str | None:
    """Why ``model``'s table cannot be used as partitioned storage, or ``None``."""
    missing = _missing_functions(using)
    if missing:
        return f"SQL function(s) {', '.join(missing)} are not installed"
    kind = _relkind(using, table_of(model))
    if kind is not None and kind != "p":
        return f"table {table_of(model)!r} is not partitioned by day"
    return None


def _relkind(using: str, table: str) -> str | None:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relkind FROM pg_class AS c WHERE c.oid = to_regclass(%s)",
            [connections[using].ops.quote_name(table)],
        )
        row = cursor.fetchone()
    return str(row[0]) if row else None


def _is_plain_empty_table(using: str, model: type[models.Model]) -> bool:
    if _relkind(using, table_of(model)) != "r":
        return False
    query = sql.SQL("SELECT EXISTS (SELECT FROM {})").format(sql.Identifier(table_of(model)))
    with connections[using].cursor() as cursor:
        cursor.execute(query.as_string())
        has_rows = bool(cursor.fetchone()[0])
    if has_rows:
        logger.warning(
            "audit_events: %s is a plain table holding rows; it is not partitioned. "
            "Run the audit_events migrations instead of --run-syncdb.",
            table_of(model),
        )
    return not has_rows


def _missing_functions(using: str) -> list[str]:
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT name FROM unnest(%s::text[]) AS name WHERE to_regproc(name) IS NULL",
            [list(_PROBES)],
        )
        return [str(row[0]) for row in cursor.fetchall()]


def _install_functions(using: str) -> None:
    if not _missing_functions(using):
        return
    with connections[using].cursor() as cursor:
        for name in (*FUNCTION_FILES, *GUARD_FILES, *DIGEST_FILES, *SEAL_FILES):
            cursor.execute(read_sql(name))


def _partition(editor: Any, model: type[models.Model], *, live: bool) -> None:
    from audit_events.spool import create_spool_table, spool_table

    partition_table(editor, model)
    if live:
        if _relkind(editor.connection.alias, spool_table(model)) is None:
            create_spool_table(editor, model)
        premake_in_migration(editor, model)
    for statement in install_statements(table_of(model)):
        editor.execute(statement.as_string(editor.connection.connection))
