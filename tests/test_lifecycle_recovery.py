"""Interrupted runs and missing partitions are repaired by the next rotation."""

from __future__ import annotations

import datetime
import threading

import psycopg
import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import override_settings

from audit_events.lifecycle import archive_older_than, partition_status, rotate
from audit_events.models import ArchivedAuditEvent, ArchivedDay, AuditEvent
from audit_events.partitions import create_day_partitions, utc_today
from audit_events.spool import forget_partitioned_days, spooled_days
from tests.fixtures_lifecycle import (
    DAY,
    fresh_layout,  # noqa: F401 - fixture
    insert_rows,
    relfilenode,
    states,
)
from tests.testapp.models import Article

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]


def _dsn() -> str:
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        host=params["host"], port=params["port"], user=params["user"], dbname=params["dbname"]
    )


def _event_at(timestamp: datetime.datetime) -> AuditEvent:
    ct = ContentType.objects.get_for_model(AuditEvent)
    event = AuditEvent(content_type=ct, object_id="1", timestamp=timestamp)
    event.save()
    return event


def _old_day_with_rows(days_ago: int, rows: int) -> tuple[datetime.date, str]:
    day = utc_today() - days_ago * DAY
    (name,) = create_day_partitions(AuditEvent, day, day)
    insert_rows(day, rows)
    return day, name


def test_day_detached_but_not_attached_is_attached_to_the_archive():
    """A run killed between DETACH and ATTACH left a day in neither table."""
    day, name = _old_day_with_rows(100, 500)
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE audit_events_auditevent DETACH PARTITION "{name}"')
    assert states()[name] == ("orphan", day)

    steps = rotate()

    assert ("repair", name) in [(s.action, s.table) for s in steps]
    assert states()[name] == ("archived", day)
    assert ArchivedAuditEvent.objects.filter(timestamp__date=day).count() == 500
    assert ArchivedDay.objects.filter(day=day).exists()


def test_pending_detach_is_finalized_and_archived():
    """A DETACH ... CONCURRENTLY that timed out waiting left the day "pending"."""
    day, name = _old_day_with_rows(100, 500)
    with psycopg.connect(_dsn()) as reader, psycopg.connect(_dsn(), autocommit=True) as ddl:
        reader.execute("SELECT count(*) FROM audit_events_auditevent")  # holds a snapshot
        ddl.execute("SET lock_timeout = '200ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            ddl.execute(
                f'ALTER TABLE audit_events_auditevent DETACH PARTITION "{name}" CONCURRENTLY'
            )
        reader.rollback()
    assert states()[name] == ("pending", day)

    steps = rotate()

    # Repaired into the archive unsealed, then sealed by the same run.
    assert [s.action for s in steps if s.table == name] == ["repair", "seal"]
    assert states()[name] == ("archived", day)
    assert ArchivedAuditEvent.objects.filter(timestamp__date=day).count() == 500


def test_detach_that_times_out_is_finished_with_finalize_on_retry(caplog):
    """A reader holding a snapshot makes the first try time out; the retry finalizes."""
    day, name = _old_day_with_rows(100, 200)
    with psycopg.connect(_dsn()) as reader:
        reader.execute("SELECT count(*) FROM audit_events_auditevent")
        release = threading.Timer(0.5, reader.rollback)
        release.start()
        with override_settings(AUDIT_LOCK_TIMEOUT_MS=100, AUDIT_DDL_RETRIES=5):
            steps = archive_older_than(90)
        release.join()
    assert [(s.action, s.table) for s in steps][:1] == [("archive", name)]
    assert "lock not available (try 1 of 6)" in caplog.text
    assert states()[name] == ("archived", day)


def test_created_but_unattached_table_is_attached_by_rotation():
    """A create interrupted before ATTACH left a LIKE + CHECK table on its own."""
    day = utc_today() + 3 * DAY
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name FROM audit_events_partition_status("
            "'audit_events_auditevent', 'audit_events_archivedauditevent') "
            "WHERE day = %s",
            [day],
        )
        (name,) = cursor.fetchone()
        cursor.execute(f'ALTER TABLE audit_events_auditevent DETACH PARTITION "{name}"')
    before = relfilenode(name)
    assert states()[name] == ("orphan", day)

    steps = rotate()

    assert [(s.action, s.table) for s in steps if s.day == day] == [("repair", name)]
    assert states()[name] == ("live", day)
    assert relfilenode(name) == before


def test_orphan_overlapping_an_existing_partition_is_left_alone_and_reported():
    day, name = _old_day_with_rows(100, 10)
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE audit_events_auditevent DETACH PARTITION "{name}"')
        cursor.execute(f'ALTER TABLE "{name}" RENAME TO "{name[:-8]}20000101"')
    create_day_partitions(ArchivedAuditEvent, day, day)
    with connection.cursor() as cursor:
        cursor.execute(f'ALTER TABLE "{name[:-8]}20000101" RENAME TO "{name}"')
    steps = rotate()
    # The hand-made archive day is recorded too (marked repaired), by a step of its own.
    (repair,) = [s for s in steps if s.action == "repair" and s.table == name]
    assert "left alone" in repair.detail
    assert states()[name] == ("orphan", day)


def test_event_for_a_day_without_partition_is_kept_and_moved_by_rotation():
    far = datetime.datetime.now(datetime.UTC) + 40 * DAY
    event = _event_at(far)
    assert spooled_days(AuditEvent, "default") == [far.date()]
    assert not AuditEvent.objects.filter(pk=event.pk).exists()

    steps = rotate()

    assert [(s.action, s.day) for s in steps if s.action == "drain"] == [("drain", far.date())]
    assert AuditEvent.objects.get(pk=event.pk).timestamp == far
    assert spooled_days(AuditEvent, "default") == []
    assert states()[f"audit_events_auditevent_p{far:%Y%m%d}"] == ("live", far.date())


def test_spooled_event_older_than_the_archive_age_ends_in_the_archive():
    old = datetime.datetime.now(datetime.UTC) - 200 * DAY
    event = _event_at(old)
    assert spooled_days(AuditEvent, "default") == [old.date()]

    rotate()

    archived = ArchivedAuditEvent.objects.get(pk=event.pk)
    assert archived.timestamp == old
    assert archived.archive_timestamp is not None
    assert [s.state for s in partition_status() if s.day == old.date()] == ["archived"]


def test_spooled_event_for_an_archived_day_is_quarantined_not_filed():
    """Only archiving writes an archived day: a late event for one is kept apart."""
    from audit_events.models import QuarantinedEvent

    day, name = _old_day_with_rows(100, 5)
    archive_older_than(90)
    late = datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)
    event = _event_at(late)
    assert spooled_days(AuditEvent, "default") == [day]

    rotate()

    assert ArchivedAuditEvent.objects.filter(timestamp__date=day).count() == 5
    assert QuarantinedEvent.objects.get().event_id == str(event.pk)
    assert spooled_days(AuditEvent, "default") == []
    assert states()[name] == ("archived", day)


def test_events_at_the_edges_of_time_are_filed_and_nothing_breaks():
    """The first and last days a partition can hold are spooled, filed by rotation, and
    every later write and listing still works; a day past them is refused before writing."""
    import pytest as _pytest

    from audit_events.lifecycle import partition_status, rotate
    from audit_events.partitions import FIRST_DAY, LAST_DAY

    article = Article.objects.create(title="edges")
    edges = [
        datetime.datetime.combine(FIRST_DAY, datetime.time(0, 0, 1), tzinfo=datetime.UTC),
        datetime.datetime.combine(LAST_DAY, datetime.time(23, 59), tzinfo=datetime.UTC),
    ]
    ids = []
    for when in edges:
        event = AuditEvent(content_object=article, timestamp=when)
        event.save()
        ids.append(event.pk)
    too_late = datetime.datetime(9999, 12, 31, 12, tzinfo=datetime.UTC)
    with _pytest.raises(ValueError, match="out of range"):
        AuditEvent(content_object=article, timestamp=too_late).save()
    rotate()
    forget_partitioned_days()
    AuditEvent(content_object=article).save()  # an ordinary write after the rotation
    days = {s.day for s in partition_status()}
    assert {FIRST_DAY, LAST_DAY} <= days
    stored = set(ArchivedAuditEvent.objects.filter(pk__in=ids).values_list("pk", flat=True))
    stored |= set(AuditEvent.objects.filter(pk__in=ids).values_list("pk", flat=True))
    assert stored == set(ids)
