"""Crash consistency: no state between two statements that the next run cannot finish.

The archive step used to run DETACH CONCURRENTLY, ATTACH and the ledger record as
three transactions; a kill between the last two left an archived day without a
record, reported as tampering forever (issue 10). Now what can share a
transaction does. Each test here pins one such state (see docs/reliability.md,
"States between steps"); ``tests/test_lifecycle_model.py`` explores the rest.
"""

from __future__ import annotations

import datetime
import signal

import pytest
from django.core.management import call_command
from django.db import DatabaseError, connection
from psycopg import sql

from audit_events.exceptions import PartitioningError
from audit_events.guard import allow_changes
from audit_events.lifecycle import archive_older_than, partition_status, rotate
from audit_events.models import ArchivedAuditEvent, ArchivedDay, AuditEvent, SealedDay
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.spool import spooled_days
from audit_events.tamper import verify_archived_days
from tests.fixtures_lifecycle import DAY, fresh_layout, insert_rows, states  # noqa: F401
from tests.fixtures_reliability import (
    Crash,
    assert_layout_is_sound,
    crash_after,
    rotate_in_process,
    where_is_everything,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]


def old_day(days_ago: int = 100, rows: int = 20) -> tuple[datetime.date, str]:
    day = utc_today() - days_ago * DAY
    (name,) = create_day_partitions(AuditEvent, day, day)
    insert_rows(day, rows)
    return day, name


def recorded(day: datetime.date) -> ArchivedDay | None:
    return ArchivedDay.objects.filter(day=day).first()


def tampering() -> list[tuple[datetime.date | None, str]]:
    """What verify reports besides the days no rotation has sealed yet (by design:
    ``archive_older_than`` and the other non-rotating paths seal nothing)."""
    return [(p.day, p.problem) for p in verify_archived_days() if p.problem != "unsealed"]


def unsealed() -> set[datetime.date]:
    return {p.day for p in verify_archived_days() if p.problem == "unsealed"}


def test_crash_right_after_the_attach_leaves_the_day_recorded():
    """Regression (issue 10): the kill point between ATTACH and the record no longer exists."""
    day, name = old_day()
    with pytest.raises(Crash), crash_after(matching="ATTACH PARTITION"):
        archive_older_than(90)
    assert states()[name] == ("archived", day)
    assert recorded(day) is not None
    assert tampering() == []  # never "unrecorded"
    assert day in unsealed()  # the archive path seals nothing; the next rotation does
    rotate()
    assert verify_archived_days() == []
    assert recorded(day).row_count == 20


def test_rotation_process_killed_right_after_the_attach_leaves_the_day_recorded():
    """The same with a real SIGKILL of a rotation process after its ATTACH statement."""
    day, name = old_day()
    result = rotate_in_process(AUDIT_KILL_AFTER_STATEMENT="ATTACH PARTITION")
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert states()[name] == ("archived", day)
    assert recorded(day) is not None
    rotate()
    assert verify_archived_days() == []


@pytest.fixture
def failing_ledger():
    """A trigger that makes every insert into the ledger fail, dropped afterwards."""
    with connection.cursor() as cursor:
        cursor.execute(
            "CREATE FUNCTION pg_temp.refuse() RETURNS trigger LANGUAGE plpgsql AS "
            "$$ BEGIN RAISE EXCEPTION 'ledger refused'; END $$"
        )
        cursor.execute(
            "CREATE TRIGGER refuse BEFORE INSERT ON audit_events_archivedday "
            "FOR EACH ROW EXECUTE FUNCTION pg_temp.refuse()"
        )
    yield
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER IF EXISTS refuse ON audit_events_archivedday")


def test_a_failed_ledger_record_undoes_the_attach(failing_ledger):
    """ATTACH and the record are one transaction: the day is left detached, never unrecorded."""
    day, name = old_day()
    with pytest.raises(PartitioningError, match="ledger refused"):
        archive_older_than(90)
    assert states()[name] == ("orphan", day)
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse ON audit_events_archivedday")
    steps = rotate()
    assert ("repair", name) in [(s.action, s.table) for s in steps]
    assert states()[name] == ("archived", day)
    assert recorded(day).row_count == 20
    assert verify_archived_days() == []


def test_a_failed_ledger_record_undoes_the_drain_partition(failing_ledger):
    """A spooled event of an old day: its archive partition and record come together."""
    when = datetime.datetime.now(datetime.UTC) - 300 * DAY
    event = AuditEvent(content_type_id=None, object_id="x", timestamp=when)
    from django.contrib.contenttypes.models import ContentType

    event.content_type = ContentType.objects.get_for_model(AuditEvent)
    event.save()
    with pytest.raises(DatabaseError, match="ledger refused"):
        rotate()
    assert when.date() not in {s.day for s in partition_status()}
    with connection.cursor() as cursor:
        cursor.execute("DROP TRIGGER refuse ON audit_events_archivedday")
    rotate()
    assert ArchivedAuditEvent.objects.filter(pk=event.pk).exists()
    assert recorded(when.date()).row_count == 1
    assert verify_archived_days() == []


def test_a_deleted_record_is_restored_by_rotation_but_still_reported():
    """Repair without laundering: the day gets a record again, marked repaired."""
    day, name = old_day()
    archive_older_than(90)
    with allow_changes():
        ArchivedDay.objects.filter(day=day).delete()
        ArchivedAuditEvent.objects.filter(timestamp__date=day)[:1].get()  # still there
    assert tampering() == [(day, "unrecorded")]

    steps = rotate()

    assert ("repair", name) in [(s.action, s.table) for s in steps]
    assert recorded(day).repaired_at is not None
    (problem,) = verify_archived_days()
    assert (problem.day, problem.problem) == (day, "repaired")
    # Rotation sealed the repaired day with the rows it holds: all 20 are vouched for now.
    seal = SealedDay.objects.get(day=day)
    assert (seal.row_count, recorded(day).row_count) == (20, 20)
    assert "repair" not in {s.action for s in rotate()}  # nothing left to repair
    assert [p.problem for p in verify_archived_days()] == ["repaired"]


def test_rows_edited_after_a_record_was_deleted_are_still_reported():
    day, _ = old_day()
    archive_older_than(90)
    with allow_changes():
        ArchivedDay.objects.filter(day=day).delete()
        ArchivedAuditEvent.objects.filter(timestamp__date=day).update(username="someone else")
    rotate()
    assert [(p.day, p.problem) for p in verify_archived_days()] == [(day, "repaired")]
    with allow_changes():  # a later edit of the repaired day shows as a change (against its seal)
        ArchivedAuditEvent.objects.filter(timestamp__date=day).update(username="again")
    assert [(p.day, p.problem) for p in verify_archived_days()] == [
        (day, "changed"),
        (day, "repaired"),  # and the repair stays reported
    ]


def where_is_the_late_event(event_id: object) -> list[str]:
    """Every place the event is stored: history, spool or quarantine (should be one)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'live' FROM audit_events_auditevent WHERE id = %s UNION ALL "
            "SELECT 'archive' FROM audit_events_archivedauditevent WHERE id = %s UNION ALL "
            "SELECT 'spool' FROM audit_events_auditevent_spool WHERE id = %s UNION ALL "
            "SELECT 'quarantine' FROM audit_events_quarantinedevent "
            "WHERE event_table = 'audit_events_auditevent' AND event_id = %s::text",
            [event_id, event_id, event_id, str(event_id)],
        )
        return sorted(row[0] for row in cursor.fetchall())


@pytest.mark.parametrize(
    ("crash_at", "before"),
    [
        ('INSERT INTO "audit_events_sealedday"', False),  # sealed, not yet in the ledger
        ('UPDATE "audit_events_archivedday"', True),  # the same, from the other side
        ("RETURNING *", False),  # the quarantine statement ran, not committed
    ],
    ids=["after seal", "before ledger copy", "in quarantine"],
)
def test_a_late_event_for_an_archived_day_is_quarantined_once_whatever_the_crash(crash_at, before):
    """A late event for an archived day is never folded into it: rotation seals the
    day as archived (20 rows), then quarantines the event as an amendment. A crash
    anywhere in between leaves the event in exactly one place and no tampering
    report; the next run ends with the seal, the ledger and the amendment."""
    from django.contrib.contenttypes.models import ContentType

    from audit_events.models import QuarantinedEvent
    from audit_events.quarantine import AMENDMENT

    day, _ = old_day()
    archive_older_than(90)
    late = datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)
    event = AuditEvent(
        content_type=ContentType.objects.get_for_model(AuditEvent), object_id="late", timestamp=late
    )
    event.save()
    assert spooled_days(AuditEvent, "default") == [day]
    with pytest.raises(Crash), crash_after(matching=crash_at, before=before):
        rotate()
    assert len(where_is_the_late_event(event.pk)) == 1
    assert where_is_the_late_event(event.pk) != ["archive"]
    assert set(tampering()) <= {(day, "amended")}

    rotate()

    assert where_is_the_late_event(event.pk) == ["quarantine"]
    assert QuarantinedEvent.objects.get(event_id=str(event.pk)).reason == AMENDMENT
    assert [(p.day, p.problem) for p in verify_archived_days()] == [(day, "amended")]
    assert ArchivedAuditEvent.objects.filter(timestamp__date=day).count() == 20
    assert SealedDay.objects.get(day=day).row_count == recorded(day).row_count == 20
    rotate()  # nothing more to do: still one amendment, the seal unchanged
    assert where_is_the_late_event(event.pk) == ["quarantine"]
    assert [(p.day, p.problem) for p in verify_archived_days()] == [(day, "amended")]


def test_a_crash_between_drop_and_forgetting_the_record_leaves_no_missing_day():
    day, name = old_day(days_ago=400)
    archive_older_than(90)
    rotate()
    assert recorded(day).row_count == 20
    with pytest.raises(Crash), crash_after(matching="DROP TABLE"):
        from django.test import override_settings

        with override_settings(AUDIT_ARCHIVE_RETENTION_DAYS=365):
            rotate()
    assert name not in states()
    assert recorded(day) is None
    assert verify_archived_days() == []


# --- create_day_partitions over archived days -------------------------------------


def test_create_day_partitions_over_an_archived_day_is_a_no_op():
    """Regression (issue 10): `make demo` twice raised WrongObjectType here."""
    day, name = old_day()
    archive_older_than(90)
    before = states()
    names = create_day_partitions(AuditEvent, day - DAY, day + DAY)
    assert names[1] == name  # the day's table, where it is: in the archive
    assert states()[name] == ("archived", day)
    assert {n: s for n, s in states().items() if n in before} == before
    assert create_day_partitions(AuditEvent, day - DAY, day + DAY) == names
    rotate()
    assert_layout_is_sound()


def test_create_day_partitions_sql_over_an_archived_day_is_a_no_op():
    day, name = old_day()
    archive_older_than(90)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT audit_events_create_day_partitions('audit_events_auditevent', %s, %s)::text",
            [day, day],
        )
        assert cursor.fetchall() == [(name,)]
    assert states()[name] == ("archived", day)


# --- Every command and lifecycle function is repeatable -----------------------------


def layout_with_work() -> None:
    """Days to archive and to expire, a gap ahead, spooled events: every kind of step."""
    today = utc_today()
    for days_ago in (401, 100, 99):
        create_day_partitions(AuditEvent, today - days_ago * DAY, today - days_ago * DAY)
        insert_rows(today - days_ago * DAY, 10)
    archive_older_than(300)  # day 401 archived, to be expired
    with connection.cursor() as cursor:
        name = f"audit_events_auditevent_p{today + 5 * DAY:%Y%m%d}"
        cursor.execute(
            sql.SQL("DROP TABLE {}").format(sql.Identifier(name)).as_string(cursor.connection)
        )
    from django.contrib.contenttypes.models import ContentType

    ct = ContentType.objects.get_for_model(AuditEvent)
    for days_ago in (20, 200):
        when = day_bounds(today - days_ago * DAY)[0] + datetime.timedelta(hours=3)
        AuditEvent(content_type=ct, object_id="s", timestamp=when).save()


def end_state() -> tuple:
    """Everything a run decides, without ids or times: days, tables, counts, records."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT 'live', (timestamp AT TIME ZONE 'UTC')::date, count(*) "
            "FROM audit_events_auditevent GROUP BY 2 UNION ALL "
            "SELECT 'archive', (timestamp AT TIME ZONE 'UTC')::date, count(*) "
            "FROM audit_events_archivedauditevent GROUP BY 2 UNION ALL "
            "SELECT 'spool', (timestamp AT TIME ZONE 'UTC')::date, count(*) "
            "FROM audit_events_auditevent_spool GROUP BY 2 ORDER BY 1, 2"
        )
        rows = cursor.fetchall()
    ledger = sorted(
        (r.day, r.row_count, bool(r.digest), r.repaired_at is None)
        for r in ArchivedDay.objects.all()
    )
    days = sorted((s.day, s.state, s.table) for s in partition_status())
    return rows, ledger, days


RETENTION = {"AUDIT_ARCHIVE_RETENTION_DAYS": 365}


def rotate_with_retention() -> None:
    from django.test import override_settings

    with override_settings(**RETENTION):
        rotate()


@pytest.mark.parametrize(
    "run",
    [
        rotate_with_retention,
        lambda: archive_older_than(90),
        lambda: create_day_partitions(AuditEvent, utc_today() - 120 * DAY, utc_today()),
        lambda: call_command("rotate_audit_partitions", verbosity=0),
        lambda: call_command("archive_audit_events", verbosity=0),
        lambda: call_command("audit_partitions", verbosity=0),
    ],
    ids=[
        "rotate",
        "archive_older_than",
        "create_day_partitions",
        "rotate_command",
        "archive_command",
        "audit_partitions_command",
    ],
)
def test_running_twice_gives_the_same_end_state(run):
    layout_with_work()
    run()
    once = end_state()
    run()
    assert end_state() == once
    # Only a rotation seals: after the other paths, verify reports the closed days
    # unsealed and nothing else; the next rotation leaves nothing to report.
    assert tampering() == []
    rotate_with_retention()
    assert verify_archived_days() == []


@pytest.mark.parametrize(
    "crash_at",
    [
        "DETACH PARTITION",
        "ATTACH PARTITION",
        "audit_events_create_day_partition(",
        "RETURNING row",
        "DROP TABLE",
        'UPDATE "audit_events_archivedday"',
    ],
)
def test_a_run_interrupted_anywhere_then_run_again_ends_as_an_uninterrupted_run(crash_at):
    layout_with_work()
    rotate_with_retention()
    expected = end_state()
    from tests.fixtures_lifecycle import reset_layout

    reset_layout()
    layout_with_work()
    with pytest.raises(Crash), crash_after(matching=crash_at):
        rotate_with_retention()
    rotate_with_retention()
    assert end_state() == expected
    assert verify_archived_days() == []
    assert len(where_is_everything()) == sum(n for table, _, n in expected[0])
