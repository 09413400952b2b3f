"""Append-only guard: stored audit events cannot be changed or deleted.

Two layers:

* In the database, ``sql/append_only_guard.sql`` refuses ``UPDATE`` and
  ``DELETE`` on an event table and all its partitions. The
  ``AppendOnly`` migration operation installs it on a table; audit_events'
  migration 0002 installs it on the default live and archive tables, and a
  swapped model's migration uses the same operation (docs/swapping.md).
* In Django, ``AbstractAuditEvent.save()`` of an already-saved event and
  ``delete()`` raise ``AppendOnlyError`` before any query is sent.

Privileges are the third layer (docs/reliability.md): the application role
gets only ``INSERT`` and ``SELECT`` (so no ``TRUNCATE`` or ``DROP`` either); a
maintenance role owns the tables and runs rotation. The guard's one way
through, ``allow_changes()``, only works for a role with the privileges of the
table's owner.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, migrations, models, transaction
from psycopg import sql

__all__ = [
    "GUARD_FILES",
    "ROW_TRIGGER",
    "AppendOnly",
    "allow_changes",
    "grant_app_role",
    "is_guarded",
]

#: The SQL files of the guard (installed by migration 0002, after 0001's files).
GUARD_FILES = ("append_only_guard.sql", "grant_app_role.sql")
#: Name of the row trigger (cloned by PostgreSQL onto every partition).
ROW_TRIGGER = "audit_events_append_only"
_GUC = "audit_events.allow_changes"


class AppendOnly(migrations.operations.base.Operation):
    """Make an audit event table append-only (migration operation).

    Put it after the table's ``PartitionByDay``; it needs the guard function of
    ``audit_events`` migration ``0002_append_only_guard``.

    Args:
        model_name: the model whose table is guarded (live or archive).
    """

    reduces_to_sql = False
    reversible = True

    def __init__(self, model_name: str) -> None:
        self.model_name = model_name

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [self.model_name], {})

    def state_forwards(self, app_label: str, state: Any) -> None:
        """The model's Django state does not change: only a trigger is added."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = to_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            for statement in install_statements(model._meta.db_table):
                schema_editor.execute(statement.as_string(schema_editor.connection.connection))

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        model = from_state.apps.get_model(app_label, self.model_name)
        if self.allow_migrate_model(schema_editor.connection.alias, model):
            for statement in uninstall_statements(model._meta.db_table):
                schema_editor.execute(statement.as_string(schema_editor.connection.connection))

    def describe(self) -> str:
        return f"Make {self.model_name} append-only"

    @property
    def migration_name_fragment(self) -> str:
        return f"append_only_{self.model_name.lower()}"


def install_statements(table: str) -> list[sql.Composed]:
    """The statements that guard ``table`` (a day-partitioned event table)."""
    # A row trigger on a partitioned table is cloned onto every partition,
    # present and future: one statement guards every day. TRUNCATE is left to
    # privileges (the application role has none): a TRUNCATE trigger would also
    # break Django's test flush (TransactionTestCase) in every project using us.
    return [
        sql.SQL(
            "CREATE TRIGGER {trigger} BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_events_append_only_guard()"
        ).format(trigger=sql.Identifier(ROW_TRIGGER), table=sql.Identifier(table)),
    ]


def uninstall_statements(table: str) -> list[sql.Composed]:
    """The statements that remove the guard from ``table``."""
    return [
        sql.SQL("DROP TRIGGER IF EXISTS {trigger} ON {table}").format(
            trigger=sql.Identifier(ROW_TRIGGER), table=sql.Identifier(table)
        )
    ]


@contextmanager
def allow_changes(using: str = DEFAULT_DB_ALIAS) -> Iterator[None]:
    """Open the guard for one transaction, for a deliberate maintenance change.

    For example a GDPR erasure run by the maintenance role::

        with allow_changes():
            AuditEvent.objects.filter(user_id=42).update(username="", content={})

    The setting is transaction-local (``SET LOCAL``) and is switched off again
    at the end of the block, also when the block runs inside an outer
    transaction.
    The database only honours it for a role that has the privileges of the
    table's owner (or a superuser): the application role of the two-role setup
    is still refused. Model instances stay guarded: use querysets.

    Args:
        using: the database alias.
    """
    with transaction.atomic(using=using), connections[using].cursor() as cursor:
        # On Citus the guard fires on the workers: only a SET LOCAL statement
        # (not set_config) reaches them, and only once propagation is asked for.
        cursor.execute(
            "SELECT set_config('citus.propagate_set_commands', 'local', true) "
            "FROM pg_extension WHERE extname = 'citus'"
        )
        cursor.execute("SET LOCAL audit_events.allow_changes = on")  # _GUC
        yield
        # Inside an outer transaction the block is only a savepoint, and SET LOCAL
        # lasts until the outer transaction ends: close the guard again explicitly.
        # (On an exception, rolling back to the savepoint undoes the SET anyway.)
        cursor.execute("SET LOCAL audit_events.allow_changes = off")


def is_guarded(model: type[models.Model], using: str = DEFAULT_DB_ALIAS) -> bool:
    """Whether ``model``'s table carries the append-only row trigger."""
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT EXISTS (SELECT FROM pg_trigger WHERE tgrelid = %s::regclass AND tgname = %s)",
            [connections[using].ops.quote_name(model._meta.db_table), ROW_TRIGGER],
        )
        return bool(cursor.fetchone()[0])


def grant_app_role(role: str, using: str = DEFAULT_DB_ALIAS) -> None:
    """Give the application role only INSERT and SELECT on the audit tables.

    Runs ``sql/grant_app_role.sql`` for the active live and archive models, their
    spool and the ``ArchivedDay`` ledger. Run it as the maintenance role (the
    owner of the tables), e.g. on a ``DATABASES`` alias that connects as it.

    Args:
        role: the name of the role the application connects as.
        using: the database alias (connected as the tables' owner).

    Raises:
        django.db.ProgrammingError: the role does not exist, or the current
            role may not grant on the tables.
    """
    from audit_events.models import (
        ArchivedDay,
        get_audit_event_archive_model,
        get_audit_event_model,
    )
    from audit_events.spool import spool_table

    connection = connections[using]
    quote = connection.ops.quote_name
    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    tables = [
        live._meta.db_table,
        archive._meta.db_table,
        spool_table(live),
        ArchivedDay._meta.db_table,
    ]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT audit_events_grant_app_role(%s::regrole, %s::regclass, %s::regclass, "
            "%s::regclass, %s::regclass)",
            [quote(role), *(quote(t) for t in tables)],
        )
