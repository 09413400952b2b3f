"""The post_migrate storage installer is harmless with migrations on; checks report, never raise.

Its real work (migrations disabled) is tested by the --nomigrations session, tests/nomigrations/.
"""

from __future__ import annotations

import pytest
from django.db import connection

from audit_events import AuditEvent
from audit_events.checks import partitions_ahead_warnings
from audit_events.syncdb import install_storage, storage_problem

pytestmark = pytest.mark.django_db


def test_install_storage_does_nothing_on_a_migrated_database() -> None:
    assert install_storage(using="default") == []
    assert storage_problem("default", AuditEvent) is None


def test_check_reports_a_missing_sql_function_instead_of_raising() -> None:
    with connection.cursor() as cursor:
        cursor.execute("DROP FUNCTION audit_events_partition_bounds(regclass)")
    (message,) = partitions_ahead_warnings("default", AuditEvent)
    assert message.id == "audit_events.E008"
    assert "audit_events_partition_bounds" in message.msg


def test_check_reports_a_table_that_is_not_partitioned() -> None:
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO audit_events_moved_away")
        cursor.execute(f"CREATE TABLE {table} (id uuid)")
    (message,) = partitions_ahead_warnings("default", AuditEvent)
    assert message.id == "audit_events.E008"
    assert "is not partitioned" in message.msg


def test_plain_table_holding_rows_is_left_alone_with_a_warning(caplog) -> None:
    table = connection.ops.quote_name(AuditEvent._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {table} RENAME TO audit_events_moved_away")
        cursor.execute(f"CREATE TABLE {table} (id uuid)")
        cursor.execute(f"INSERT INTO {table} VALUES (gen_random_uuid())")
    assert install_storage(using="default") == []
    assert "holding rows; it is not partitioned" in caplog.text
