"""Citus support on plain PostgreSQL: all a no-op (the cluster tests are in tests/citus)."""

import pytest
from django.apps import apps
from django.db import IntegrityError, connection
from django.db.migrations.state import ProjectState

from audit_events.distribution import (
    citus_installed,
    distribute_statements,
    is_distributed,
    raise_without_shard_names,
    shard_error_message,
    undistribute_statements,
)
from audit_events.models import ArchivedAuditEvent, AuditEvent
from audit_events.operations import DistributeByColumn
from audit_events.partitions import create_day_partitions, utc_today
from tests.fixtures_lifecycle import DAY, index_definitions

pytestmark = pytest.mark.django_db

LIVE, ARCHIVE = "audit_events_auditevent", "audit_events_archivedauditevent"


def primary_key(table: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT array_agg(a.attname ORDER BY k.n) FROM pg_constraint c "
            "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY k(attnum, n) "
            "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
            "WHERE c.conrelid = %s::regclass AND c.contype = 'p'",
            [table],
        )
        return list(cursor.fetchone()[0])


def test_distribute_by_column_does_nothing_without_citus():
    operation = DistributeByColumn("AuditEvent", "ArchivedAuditEvent", "object_id")
    state = ProjectState.from_apps(apps)
    with connection.schema_editor() as editor:
        operation.database_forwards("audit_events", editor, state, state)
    assert primary_key(LIVE) == primary_key(ARCHIVE) == ["id", "timestamp"]
    assert not citus_installed(connection)
    assert not is_distributed(AuditEvent) and not is_distributed(ArchivedAuditEvent)
    with connection.schema_editor() as editor:
        operation.database_backwards("audit_events", editor, state, state)
    assert primary_key(LIVE) == ["id", "timestamp"]


def test_distribute_by_column_deconstructs_and_checks_shard_count():
    operation = DistributeByColumn("TenantEvent", "ArchivedTenantEvent", "tenant", shard_count=8)
    assert operation.deconstruct() == (
        "DistributeByColumn",
        ["TenantEvent", "ArchivedTenantEvent", "tenant"],
        {"shard_count": 8},
    )
    assert "Citus only" in operation.describe()
    with pytest.raises(ValueError, match="shard_count"):
        DistributeByColumn("TenantEvent", "ArchivedTenantEvent", "tenant", shard_count=0)


def test_distribution_statements_lead_the_key_with_the_column_and_colocate():
    statements = [
        s.as_string(connection.connection)
        for s in distribute_statements(AuditEvent, ArchivedAuditEvent, "object_id", 8)
    ]
    assert 'PRIMARY KEY ("object_id", "id", "timestamp")' in statements[2]
    # The archive parent loses its own indexes before it is distributed (flat ATTACH).
    assert "DROP INDEX" in statements[4] and "'audit_events_archivedauditevent'" in statements[4]
    assert statements[5] == (
        "SELECT create_distributed_table('audit_events_auditevent', 'object_id', shard_count => 8)"
    )
    assert "colocate_with => 'audit_events_auditevent'" in statements[6]


def test_maintenance_plan_keeps_concurrently_and_one_statement_each_without_citus():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT audit_events_step_statements(%s::regclass, 'archive', "
            "ARRAY['SELECT 1', 'SELECT 2'])",
            [LIVE],
        )
        assert cursor.fetchone()[0] == ["SELECT 1", "SELECT 2"]


def test_shard_names_in_error_messages_become_table_names():
    message = (
        'no partition of relation "swapapp_tenantevent_102009" found for row; '
        'constraint "swapapp_tenantevent_p20250102_pkey_102041"; other "auth_user_102008"'
    )
    assert shard_error_message(message, ["swapapp_tenantevent"]) == (
        'no partition of relation "swapapp_tenantevent" found for row; '
        'constraint "swapapp_tenantevent_p20250102_pkey"; other "auth_user_102008"'
    )


def test_an_error_naming_a_shard_is_raised_again_as_its_own_class():
    error = IntegrityError(
        'duplicate key value violates unique constraint "audit_events_auditevent_pkey_102041"'
    )
    with pytest.raises(IntegrityError, match='"audit_events_auditevent_pkey"') as raised:
        raise_without_shard_names(error, AuditEvent)
    assert raised.value.__cause__ is error
    raise_without_shard_names(IntegrityError("no shard here"), AuditEvent)  # returns


def test_archive_parent_loses_its_indexes_and_gets_them_back_while_days_keep_theirs():
    """The SQL both directions of DistributeByColumn run on the archive (plain parts only)."""
    day = utc_today() - 300 * DAY
    (name,) = create_day_partitions(ArchivedAuditEvent, day, day)
    parent_before, day_before = index_definitions(ARCHIVE), index_definitions(name)
    assert len(parent_before) == len(day_before) == 4
    drop = distribute_statements(AuditEvent, ArchivedAuditEvent, "object_id")[4]
    give_back = undistribute_statements(AuditEvent, ArchivedAuditEvent)[4:]
    with connection.cursor() as cursor:
        cursor.execute(drop.as_string(connection.connection))
        assert index_definitions(ARCHIVE) == []
        assert index_definitions(name) == day_before  # the day keeps its key and indexes
        assert primary_key(name) == ["id", "timestamp"]
        for statement in give_back:
            cursor.execute(statement.as_string(connection.connection))
        cursor.execute(
            "SELECT count(*) FROM pg_index i JOIN pg_class c ON c.oid = i.indexrelid "
            "WHERE i.indrelid = %s::regclass AND c.relispartition",
            [name],
        )
        attached = cursor.fetchone()[0]
    assert index_definitions(ARCHIVE) == parent_before
    assert primary_key(ARCHIVE) == ["id", "timestamp"]
    assert len(index_definitions(name)) == attached == 4  # attached again, none built twice
