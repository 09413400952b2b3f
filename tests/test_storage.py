"""Day-partitioned storage created by the migrations."""

import datetime

import pytest
from django.db import connection

from audit_events.models import ArchivedAuditEvent, AuditEvent
from audit_events.partitions import list_partitions, utc_today
from tests.fixtures_lifecycle import fresh_layout  # noqa: F401  (fixture)

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


def index_definitions(table: str) -> set[str]:
    """The parent's index definitions, with its own name taken out so tables compare."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT indexname, indexdef FROM pg_indexes WHERE tablename = %s", [table])
        rows = cursor.fetchall()
    return {
        definition.replace(name, "<index>").replace(table, "<table>") for name, definition in rows
    }


def test_live_and_archive_parents_have_identical_index_definitions():
    """ATTACH then reuses a day's indexes instead of building them (DESIGN.md §3)."""
    live = index_definitions(AuditEvent._meta.db_table)
    assert live == index_definitions(ArchivedAuditEvent._meta.db_table)
    assert live == {
        'CREATE UNIQUE INDEX <index> ON ONLY public.<table> USING btree (id, "timestamp")',
        "CREATE INDEX <index> ON ONLY public.<table> USING btree "
        '(content_type_id, object_id, "timestamp")',
        'CREATE INDEX <index> ON ONLY public.<table> USING btree (user_id, "timestamp")',
        'CREATE INDEX <index> ON ONLY public.<table> USING brin ("timestamp")',
    }


def test_primary_key_includes_the_partition_key_and_no_foreign_keys_exist():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.conrelid::regclass::text, c.contype, pg_get_constraintdef(c.oid)
            FROM pg_constraint c
            WHERE c.conrelid IN (%s::regclass, %s::regclass) AND c.contype IN ('p', 'f')
            """,
            [AuditEvent._meta.db_table, ArchivedAuditEvent._meta.db_table],
        )
        rows = cursor.fetchall()
    assert sorted(rows) == [
        ("audit_events_archivedauditevent", "p", 'PRIMARY KEY (id, "timestamp")'),
        ("audit_events_auditevent", "p", 'PRIMARY KEY (id, "timestamp")'),
    ]


def test_every_partition_has_a_check_equal_to_its_bounds():
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.inhrelid::regclass::text, b.lower_bound, b.upper_bound,
                   audit_events_check_bounds(i.inhrelid::regclass) IS NOT NULL
            FROM pg_inherits i, audit_events_partition_bounds(i.inhrelid::regclass) b
            WHERE i.inhparent = %s::regclass
            """,
            [AuditEvent._meta.db_table],
        )
        rows = cursor.fetchall()
    assert rows and all(has_check for *_, has_check in rows)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layout")
def test_archiving_reuses_the_days_indexes():
    """The day's index relations are the same objects before and after the move."""
    from audit_events.lifecycle import archive_older_than
    from audit_events.partitions import create_day_partitions

    day = utc_today() - datetime.timedelta(days=120)
    (name,) = create_day_partitions(AuditEvent, day, day)

    def indexes() -> list[int]:
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT indexrelid::int FROM pg_index WHERE indrelid = %s::regclass ORDER BY 1",
                [name],
            )
            return [row[0] for row in cursor.fetchall()]

    before = indexes()
    assert len(before) == 4
    archive_older_than(90)
    assert indexes() == before


@pytest.mark.django_db(transaction=True)
def test_a_database_migrated_before_0006_gets_the_new_sql_functions():
    """The functions added after 0005 (the plan and rotation need them) come with 0006."""
    from django.core.management import call_command

    new = ("audit_events_day_tables", "audit_events_index_template")

    def installed():
        with connection.cursor() as cursor:
            cursor.execute("SELECT count(*) FROM pg_proc WHERE proname = ANY(%s)", [list(new)])
            return cursor.fetchone()[0]

    call_command("migrate", "audit_events", "0005", verbosity=0)
    try:
        with connection.cursor() as cursor:  # as a database migrated by 0.x before 0006
            cursor.execute("DROP FUNCTION audit_events_day_tables(regclass, regclass)")
            cursor.execute("DROP FUNCTION audit_events_index_template(regclass)")
        assert installed() == 0
    finally:
        call_command("migrate", "audit_events", verbosity=0)
    assert installed() == len(new)
    call_command("rotate_audit_partitions", verbosity=0)  # uses them
