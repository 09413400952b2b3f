"""Event ids carry their own timestamp: UUIDv7 to the microsecond, enforced by a CHECK."""

import datetime
import uuid

import pytest
from django.db import IntegrityError, connection, transaction
from hypothesis import given, settings
from hypothesis import strategies as st

from audit_events.bulk import bulk_create_events
from audit_events.exceptions import EventIdMismatch
from audit_events.ids import (
    ID_CHECK_NAME,
    ProvisionalId,
    id_check_sql,
    id_matches,
    timestamp_of,
    uuid7,
    uuid7_for,
)
from audit_events.models import ArchivedAuditEvent, AuditEvent
from audit_events.partitions import create_day_partitions, utc_today
from tests.fixtures_lifecycle import fresh_layout  # noqa: F401  (fixture)
from tests.testapp.models import Article

UTC = datetime.UTC
aware = st.datetimes(
    min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 12, 30)
).map(lambda d: d.replace(tzinfo=UTC))


@given(when=aware)
def test_the_id_holds_its_timestamp_to_the_microsecond(when):
    value = uuid7_for(when)
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert timestamp_of(value) == when
    assert id_matches(value, when)
    assert not id_matches(value, when + datetime.timedelta(microseconds=1))


@given(a=aware, b=aware)
def test_id_order_is_time_order(a, b):
    if a < b:
        assert uuid7_for(a) < uuid7_for(b)


def test_ids_of_one_timestamp_differ():
    when = datetime.datetime(2026, 5, 1, 12, 0, 0, 123456, tzinfo=UTC)
    assert len({uuid7_for(when) for _ in range(1000)}) == 1000


def test_timestamps_before_1970_and_naive_ones_have_no_id():
    with pytest.raises(ValueError, match="1970"):
        uuid7_for(datetime.datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC))
    with pytest.raises(ValueError, match="timezone-aware"):
        uuid7_for(datetime.datetime(2026, 1, 1))


def test_timestamp_of_anything_else_is_none():
    assert timestamp_of(uuid.uuid4()) is None
    assert timestamp_of("not-a-uuid") is None
    value = uuid7_for(datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC))
    assert timestamp_of(str(value)) == datetime.datetime(2026, 1, 2, 3, 4, 5, 6, tzinfo=UTC)


def test_the_default_id_is_provisional():
    assert type(uuid7()) is ProvisionalId


@pytest.mark.django_db
def test_the_sql_function_builds_the_same_ids():
    when = datetime.datetime(2026, 3, 4, 5, 6, 7, 999999, tzinfo=UTC)
    with connection.cursor() as cursor:
        cursor.execute("SELECT audit_events_uuid7(%s) FROM generate_series(1, 3)", [when])
        values = [row[0] for row in cursor.fetchall()]
        assert len(set(values)) == 3
        assert all(timestamp_of(v) == when and id_matches(v, when) for v in values)
        with pytest.raises(Exception, match="1970"), transaction.atomic():
            cursor.execute("SELECT audit_events_uuid7('1969-12-31 23:59:59+00')")


@pytest.mark.django_db
def test_saved_events_get_the_id_of_their_timestamp():
    article = Article.objects.create(title="ids")
    event = AuditEvent(content_object=article)
    event.save()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert type(event.pk) is uuid.UUID
    assert timestamp_of(stored.pk) == stored.timestamp == event.timestamp


@pytest.mark.django_db
def test_a_timestamp_set_by_hand_gives_the_id():
    article = Article.objects.create(title="ids")
    when = datetime.datetime.now(UTC) - datetime.timedelta(hours=3)
    built = AuditEvent(content_object=article, timestamp=when)
    assert timestamp_of(built.pk) == when  # final from construction on
    built.save()
    later = AuditEvent(content_object=article)
    later.timestamp = when  # set after building: the id follows at save
    later.save()
    assert timestamp_of(later.pk) == when
    assert AuditEvent.objects.filter(timestamp=when).count() == 2


@pytest.mark.django_db
def test_an_id_set_by_hand_must_match_the_timestamp():
    article = Article.objects.create(title="ids")
    when = datetime.datetime.now(UTC) - datetime.timedelta(hours=1)
    good = uuid7_for(when)
    AuditEvent(id=good, content_object=article, timestamp=when).save()
    assert AuditEvent.objects.get(pk=good).timestamp == when
    bad = uuid7_for(when - datetime.timedelta(seconds=1))
    event = AuditEvent(id=bad, content_object=article, timestamp=when)
    with pytest.raises(EventIdMismatch) as info:
        event.save()
    assert isinstance(info.value, IntegrityError)
    assert str(bad) in str(info.value) and when.isoformat() in str(info.value)
    with pytest.raises(EventIdMismatch):
        AuditEvent(id=str(uuid.uuid4()), content_object=article, timestamp=when).save()
    with pytest.raises(EventIdMismatch):
        bulk_create_events([AuditEvent(id=bad, content_object=article, timestamp=when)])
    assert AuditEvent.objects.count() == 1


@pytest.mark.django_db
def test_bulk_and_django_bulk_create_store_matching_ids():
    article = Article.objects.create(title="ids")
    when = datetime.datetime.now(UTC) - datetime.timedelta(minutes=5)
    events = [AuditEvent(content_object=article) for _ in range(3)]
    events[0].timestamp = when
    ids_before = [e.pk for e in events[1:]]
    bulk_create_events(events)
    assert timestamp_of(events[0].pk) == when
    assert [e.pk for e in events[1:]] == ids_before
    AuditEvent._base_manager.bulk_create([AuditEvent(content_object=article, timestamp=when)])
    rows = AuditEvent.objects.values_list("pk", "timestamp")
    assert len(rows) == 4 and all(timestamp_of(pk) == ts for pk, ts in rows)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layout")
def test_spooled_events_keep_their_id_when_drained():
    from audit_events.lifecycle import rotate
    from audit_events.spool import forget_partitioned_days

    article = Article.objects.create(title="spool")
    when = datetime.datetime.combine(
        utc_today() - datetime.timedelta(days=10), datetime.time(8, 30, 0, 250), tzinfo=UTC
    )
    event = AuditEvent(content_object=article, timestamp=when)
    event.save()  # no partition yet: spooled
    rotate()
    forget_partitioned_days()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.timestamp == when == timestamp_of(stored.pk)


@pytest.mark.django_db
def test_every_event_table_and_day_carries_the_check():
    day = utc_today() - datetime.timedelta(days=300)
    create_day_partitions(ArchivedAuditEvent, day, day)
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT c.oid::regclass::text FROM pg_class c
            WHERE c.oid IN (SELECT inhrelid FROM pg_inherits
                            WHERE inhparent = ANY(%s::regclass[]))
               OR c.oid = ANY(%s::regclass[])
            """,
            [[AuditEvent._meta.db_table, ArchivedAuditEvent._meta.db_table]] * 2,
        )
        tables = [row[0] for row in cursor.fetchall()]
        cursor.execute(
            "SELECT conrelid::regclass::text FROM pg_constraint "
            "WHERE conname = %s AND contype = 'c'",
            [ID_CHECK_NAME],
        )
        checked = {row[0] for row in cursor.fetchall()}
    assert len(tables) > 3
    assert set(tables) <= checked


@pytest.mark.django_db
@settings(max_examples=30, deadline=None)
@given(
    when=st.datetimes(
        min_value=datetime.datetime(1970, 1, 1), max_value=datetime.datetime(9999, 12, 30)
    )
)
def test_the_check_accepts_exactly_the_ids_of_the_timestamp(when):
    """PostgreSQL's CHECK and Python agree on any microsecond, 1970 to 9999."""
    when = when.replace(tzinfo=UTC)
    good = uuid7_for(when)
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {id_check_sql('i', 't')} FROM (VALUES (%s::uuid, %s::timestamptz), "
            "(%s::uuid, %s::timestamptz), (%s::uuid, %s::timestamptz)) AS v(i, t)",
            [good, when, good, when + datetime.timedelta(microseconds=1), uuid.uuid4(), when],
        )
        assert [row[0] for row in cursor.fetchall()] == [True, False, False]


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layout")
def test_attaching_a_day_to_the_archive_scans_nothing():
    """A live day table moved to the archive: ATTACH needs no validation scan (the bounds
    CHECK implies the partition constraint; the id CHECK is matched by name, not re-checked)."""
    from psycopg import sql

    from audit_events.partitions import day_bounds
    from tests.fixtures_lifecycle import insert_rows

    day = utc_today() - datetime.timedelta(days=120)
    (table,) = create_day_partitions(AuditEvent, day, day)
    insert_rows(day, 500)
    notices: list[str] = []
    connection.ensure_connection()
    connection.connection.add_notice_handler(lambda diag: notices.append(diag.message_primary))
    live, archive = AuditEvent._meta.db_table, ArchivedAuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {}")
            .format(sql.Identifier(live), sql.SQL(table))
            .as_string()
        )
        cursor.execute("SET client_min_messages = debug1")
        try:
            cursor.execute(
                sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM (%s) TO (%s)")
                .format(sql.Identifier(archive), sql.SQL(table))
                .as_string(),
                list(day_bounds(day)),
            )
        finally:
            cursor.execute("RESET client_min_messages")
    assert any("is implied by existing constraints" in n for n in notices), notices
    assert ArchivedAuditEvent.objects.filter(timestamp__date=day).count() == 500
