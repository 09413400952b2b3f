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

__all__ = ["DistributeByColumn", "InstallSQLFunctions", "PartitionByDay"]


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


class DistributeByColumn(migrations.operations.base.Operation):
    """Distribute the live and archive event tables by a column on Citus (colocated).

    Put it after both tables' ``PartitionByDay`` (and ``AppendOnly``), in a
    migration of the app that defines the swapped event models. On Citus the
    column then leads the primary key of both tables, ``(column, id,
    timestamp)``, the live table is distributed by it and the archive table is
    colocated with the live one (see docs/scaling.md). On plain PostgreSQL
    (no ``citus`` extension in the database) it does nothing, so the same
    migrations serve both.

    Reversible: going back runs ``undistribute_table`` on both tables (which
    copies every row back to the coordinator) and restores the primary key.

    Args:
        model_name: the live event model, e.g. ``"TenantEvent"``.
        archive_model_name: the archive event model of the same app.
        field_name: the field whose column distributes both tables, e.g. ``"tenant"``.
        shard_count: shards per table (default: the cluster's ``citus.shard_count``);
            every day of each table has this many shards.
    """

    reduces_to_sql = False
    reversible = True

    def __init__(
        self,
        model_name: str,
        archive_model_name: str,
        field_name: str,
        shard_count: int | None = None,
    ) -> None:
        if shard_count is not None and (isinstance(shard_count, bool) or shard_count < 1):
            raise ValueError(f"shard_count must be a whole number >= 1; got {shard_count!r}")
        self.model_name = model_name
        self.archive_model_name = archive_model_name
        self.field_name = field_name
        self.shard_count = shard_count

    def deconstruct(self) -> tuple[str, list[Any], dict[str, Any]]:
        kwargs: dict[str, Any] = {}
        if self.shard_count is not None:
            kwargs["shard_count"] = self.shard_count
        args = [self.model_name, self.archive_model_name, self.field_name]
        return (self.__class__.__qualname__, args, kwargs)

    def state_forwards(self, app_label: str, state: Any) -> None:
        """The models' Django state does not change: only where the rows live."""

    def _models(self, app_label: str, state: Any) -> tuple[Any, Any]:
        return (
            state.apps.get_model(app_label, self.model_name),
            state.apps.get_model(app_label, self.archive_model_name),
        )

    def _applies(self, schema_editor: Any, models: tuple[Any, Any]) -> bool:
        from audit_events.distribution import citus_installed

        alias = schema_editor.connection.alias
        return all(self.allow_migrate_model(alias, m) for m in models) and citus_installed(
            schema_editor.connection
        )

    def database_forwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        from audit_events import distribution

        models = self._models(app_label, to_state)
        if self._applies(schema_editor, models):
            statements = distribution.distribute_statements(
                *models, self.field_name, self.shard_count
            )
            distribution.run_statements(schema_editor, statements)

    def database_backwards(
        self, app_label: str, schema_editor: Any, from_state: Any, to_state: Any
    ) -> None:
        from audit_events import distribution

        models = self._models(app_label, from_state)
        if self._applies(schema_editor, models) and distribution.is_distributed(
            models[0], schema_editor.connection.alias
        ):
            distribution.run_statements(
                schema_editor, distribution.undistribute_statements(*models)
            )

    def describe(self) -> str:
        return (
            f"Distribute {self.model_name} and {self.archive_model_name} by "
            f"{self.field_name} (Citus only)"
        )

    @property
    def migration_name_fragment(self) -> str:
        return f"distribute_{self.model_name.lower()}"
