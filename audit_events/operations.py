"""Migration operations that lay out audit event tables in PostgreSQL.

Use ``PartitionByDay`` right after the ``CreateModel`` of your own
``AbstractAuditEvent`` subclass (see docs/storage.md)::

    operations = [
        migrations.CreateModel(name="MyEvent", fields=[...]),
        PartitionByDay("MyEvent"),
    ]
"""

from __future__ import annotations

from typing import Any

from django.db import migrations

from audit_events.sqlfiles import FUNCTION_FILES, read_sql

__all__ = ["InstallSQLFunctions", "PartitionByDay"]


class InstallSQLFunctions(migrations.RunSQL):
    """Create (or replace) the SQL functions shipped under ``sql/``.

    The files are read when the migration runs, so ``sqlmigrate`` shows exactly
    what a DBA would run by hand with ``psql -f``.
    """

    reduces_to_sql = True

    def __init__(self, files: tuple[str, ...] = FUNCTION_FILES) -> None:
        self.files = tuple(files)
        super().__init__(
            sql=[read_sql(name) for name in self.files],
            reverse_sql=migrations.RunSQL.noop,
        )

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        return (self.__class__.__qualname__, [], {"files": self.files})

    def describe(self) -> str:
        return f"Install audit_events SQL functions ({len(self.files)} files)"


class PartitionByDay(migrations.operations.base.Operation):
    """Rebuild a just-created audit event table as range-partitioned by UTC day.

    Args:
        model_name: the model, as in the preceding ``CreateModel``.
        premake: also create partitions from yesterday to
            ``AUDIT_PARTITION_PREMAKE_DAYS`` ahead (live tables: yes; archive
            tables: no, they receive whole partitions).
        spool: also create the safety-net table that keeps events whose day has
            no partition yet (live tables only).
    """

    reduces_to_sql = False
    reversible = True

    def __init__(self, model_name: str, premake: bool = True, spool: bool = True) -> None:
        self.model_name = model_name
        self.premake = premake
        self.spool = spool

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if not self.premake:
            kwargs["premake"] = False
        if not self.spool:
            kwargs["spool"] = False
        return (self.__class__.__qualname__, [self.model_name], kwargs)

    def state_forwards(self, app_label: str, state: Any) -> None:
        """The table's Django state does not change: only its storage does."""

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        from audit_events import partitions, spool

        model = to_state.apps.get_model(app_label, self.model_name)
        if not self.allow_migrate_model(schema_editor.connection.alias, model):
            return
        partitions.partition_table(schema_editor, model)
        if self.spool:
            spool.create_spool_table(schema_editor, model)
        if self.premake:
            partitions.premake_in_migration(schema_editor, model)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        from audit_events import spool

        model = from_state.apps.get_model(app_label, self.model_name)
        if self.spool and self.allow_migrate_model(schema_editor.connection.alias, model):
            spool.drop_spool_table(schema_editor, model)

    def describe(self) -> str:
        return f"Partition {self.model_name} by day"

    @property
    def migration_name_fragment(self) -> str:
        return f"partition_{self.model_name.lower()}"
