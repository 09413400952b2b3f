"""Day-partitioned storage created by the migrations."""

import datetime

import pytest
from django.db import connection

from audit_events.models import ArchivedAuditEvent, AuditEvent
from audit_events.partitions import list_partitions, utc_today

pytestmark = pytest.mark.django_db


def test_both_tables_are_range_partitioned_on_timestamp():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.relname, pt.partstrat, a.attname
            FROM pg_partitioned_table pt
            JOIN pg_class c ON c.oid = pt.partrelid
            JOIN pg_attribute a ON a.attrelid = pt.partrelid AND a.attnum = pt.partattrs[0]
            ORDER BY 1
            """
        )
        rows = cursor.fetchall()
    assert ("audit_events_archivedauditevent", "r", "timestamp") in rows
    assert ("audit_events_auditevent", "r", "timestamp") in rows


def test_migration_premakes_partitions_from_yesterday():
    days = [p.day for p in list_partitions(AuditEvent)]
    today = utc_today()
    assert days[0] == today - datetime.timedelta(days=1)
    assert days[-1] == today + datetime.timedelta(days=14)
    assert len(days) == 16
    assert list_partitions(ArchivedAuditEvent) == []


def test_models_and_migrations_agree():
    """makemigrations finds nothing to do: the shipped migrations describe the models."""
    from io import StringIO

    from django.core.management import call_command

    out = StringIO()
    call_command("makemigrations", "audit_events", "--check", "--dry-run", stdout=out)
    assert "No changes detected" in out.getvalue()
