"""Rotation and zero-copy archiving against a real PostgreSQL."""

from __future__ import annotations

import pytest
from django.test import override_settings

from audit_events.lifecycle import archive_older_than, rotate
from audit_events.models import ArchivedAuditEvent, ArchivedDay, AuditEvent
from audit_events.partitions import create_day_partitions, utc_today
from tests.fixtures_lifecycle import (
    DAY,
    fresh_layout,  # noqa: F401 - fixture
    insert_rows,
    relfilenode,
    states,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]


def test_archive_moves_partition_without_copying_rows():
    day = utc_today() - 100 * DAY
    (name,) = create_day_partitions(AuditEvent, day, day)
    insert_rows(day, 20_000)
    before = relfilenode(name)

    steps = archive_older_than(90)

    assert [(s.action, s.table, s.day) for s in steps[:1]] == [("archive", name, day)]
    assert states()[name] == ("archived", day)
    assert relfilenode(name) == before
    assert ArchivedAuditEvent.objects.filter(timestamp__date=day).count() == 20_000
    assert not AuditEvent.objects.filter(timestamp__date=day).exists()
    assert ArchivedDay.objects.get(day=day).archive_table == "audit_events_archivedauditevent"


def test_archived_events_carry_their_archive_timestamp():
    day = utc_today() - 95 * DAY
    create_day_partitions(AuditEvent, day, day)
    insert_rows(day, 3)
    archive_older_than(90)
    archived_at = ArchivedDay.objects.get(day=day).archived_at
    assert {e.archive_timestamp for e in ArchivedAuditEvent.objects.all()} == {archived_at}


def test_archive_keeps_days_younger_than_the_age():
    today = utc_today()
    create_day_partitions(AuditEvent, today - 92 * DAY, today - 89 * DAY)
    archive_older_than(90, today=today)
    archived = sorted(day for state, day in states().values() if state == "archived")
    assert archived == [today - 92 * DAY, today - 91 * DAY]


def test_archive_default_age_comes_from_the_setting():
    today = utc_today()
    create_day_partitions(AuditEvent, today - 12 * DAY, today - 9 * DAY)
    with override_settings(AUDIT_ARCHIVE_AFTER_DAYS=10):
        archive_older_than(today=today)
    archived = sorted(day for state, day in states().values() if state == "archived")
    assert archived == [today - 12 * DAY, today - 11 * DAY]


@pytest.mark.parametrize("bad", [0, -3, 1.5, "90", True])
def test_archive_refuses_a_bad_age(bad):
    with pytest.raises(ValueError, match="older_than must be a whole number of days"):
        archive_older_than(bad)


def test_rotation_premakes_partitions_and_analyzes_the_live_parent():
    today = utc_today()
    with override_settings(AUDIT_PARTITION_PREMAKE_DAYS=20):
        steps = rotate(today=today)
    created = [s.day for s in steps if s.action == "create"]
    assert created == [today + n * DAY for n in range(15, 21)]
    assert [s.table for s in steps if s.action == "analyze"] == ["audit_events_auditevent"]
    live_days = {day for state, day in states().values() if state == "live"}
    assert today + 20 * DAY in live_days


def test_rotation_with_nothing_to_do_does_nothing():
    rotate()  # seals yesterday (the fresh layout's first day) once its grace is over
    assert rotate() == []


def test_rotation_archives_and_expires_past_retention():
    today = utc_today()
    create_day_partitions(AuditEvent, today - 12 * DAY, today - 10 * DAY)
    with override_settings(AUDIT_ARCHIVE_AFTER_DAYS=5, AUDIT_ARCHIVE_RETENTION_DAYS=11):
        first = rotate(today=today)
        second = rotate(today=today)
    assert [s.day for s in first if s.action == "archive"] == [
        today - 12 * DAY,
        today - 11 * DAY,
        today - 10 * DAY,
    ]
    assert [s for s in first if s.action == "expire"] == []
    assert [s.day for s in second if s.action == "expire"] == [today - 12 * DAY]
    remaining = sorted(day for state, day in states().values() if state == "archived")
    assert remaining[0] == today - 11 * DAY
    assert not ArchivedDay.objects.filter(day=today - 12 * DAY).exists()


def test_rotation_refuses_retention_not_longer_than_archive_age():
    from django.core.exceptions import ImproperlyConfigured

    with (
        override_settings(AUDIT_ARCHIVE_AFTER_DAYS=30, AUDIT_ARCHIVE_RETENTION_DAYS=30),
        pytest.raises(ImproperlyConfigured, match="AUDIT_ARCHIVE_RETENTION_DAYS"),
    ):
        rotate()


def _messy_layout(today):
    """Old days to archive and expire, an orphan and a pending-free gap ahead."""
    create_day_partitions(AuditEvent, today - 15 * DAY, today - 9 * DAY)
    insert_rows(today - 15 * DAY, 50)
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            f"ALTER TABLE audit_events_auditevent DETACH PARTITION "
            f'"audit_events_auditevent_p{today - 9 * DAY:%Y%m%d}"'
        )
        cursor.execute(f'DROP TABLE "audit_events_auditevent_p{today + 5 * DAY:%Y%m%d}"')


def _catalog_and_ledger():
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, parent, state FROM audit_events_partition_status("
            "'audit_events_auditevent', 'audit_events_archivedauditevent')"
        )
        catalog = cursor.fetchall()
    return catalog, sorted(ArchivedDay.objects.values_list("archive_table", "day"))


_SETTINGS = {
    "AUDIT_ARCHIVE_AFTER_DAYS": 5,
    "AUDIT_ARCHIVE_RETENTION_DAYS": 14,
    "AUDIT_PARTITION_PREMAKE_DAYS": 16,
}


def test_sql_statements_and_rotation_end_in_the_same_state():
    from django.db import connection

    from tests.fixtures_lifecycle import reset_layout

    today = utc_today()
    _messy_layout(today)
    with override_settings(**_SETTINGS):
        rotate(today=today)
        by_python = _catalog_and_ledger()
    reset_layout()
    _messy_layout(today)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT audit_events_maintenance_statements('audit_events_auditevent', "
            "'audit_events_archivedauditevent', %s, %s, %s, %s)",
            [today - 5 * DAY, today, today + 16 * DAY, today - 14 * DAY],
        )
        for (statement,) in cursor.fetchall():
            cursor.execute(statement)
    assert _catalog_and_ledger() == by_python
    assert {state for _, _, state in by_python[0]} == {"live", "archived"}


def test_dry_run_is_the_sql_plan_and_changes_nothing():
    from django.db import connection

    today = utc_today()
    _messy_layout(today)
    before = _catalog_and_ledger()
    with override_settings(**_SETTINGS):
        planned = rotate(today=today, dry_run=True)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT action, table_name, day FROM audit_events_plan_maintenance("
            "'audit_events_auditevent', 'audit_events_archivedauditevent', %s, %s, %s, %s) "
            "ORDER BY step",
            [today - 5 * DAY, today, today + 16 * DAY, today - 14 * DAY],
        )
        sql_plan = cursor.fetchall()
    # Sealing is planned in Python (it reads the seal ledger): it runs after repair and
    # create and before the moves, so that archiving moves sealed days.
    assert [(s.action, s.table, s.day) for s in planned if s.action != "seal"] == sql_plan
    assert {s.action for s in planned} == {"repair", "create", "archive", "seal", "analyze"}
    actions = [s.action for s in planned]
    assert actions.index("seal") > max(i for i, a in enumerate(actions) if a == "create")
    assert max(i for i, a in enumerate(actions) if a == "seal") < actions.index("archive")
    assert _catalog_and_ledger() == before
