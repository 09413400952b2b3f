"""Read-your-writes for any date: the writer makes a missing day on the spot."""

from __future__ import annotations

import datetime
import logging

import pytest
from django.db import connection
from django.test.utils import override_settings

from audit_events import (
    ArchivedAuditEvent,
    AuditContext,
    AuditEvent,
    archive_older_than,
    bulk_create_events,
)
from audit_events.models import ArchivedDay
from audit_events.ondemand import forget_warnings
from audit_events.partitions import day_bounds, list_partitions, utc_today
from audit_events.spool import spool_table, spooled_days
from tests.fixtures_lifecycle import fresh_layout  # noqa: F401  (fixture)
from tests.test_privileges import roles  # noqa: F401  (fixture: app and maintenance roles)
from tests.testapp.models import Article

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_layout"),
]

DAY = datetime.timedelta(days=1)


def _event_at(timestamp: datetime.datetime, article: Article) -> AuditEvent:
    event = AuditContext().new_event()
    event.content_object = article
    event.timestamp = timestamp
    return event  # type: ignore[return-value]


@pytest.fixture(autouse=True)
def _fresh_warnings() -> None:
    forget_warnings()


@pytest.fixture
def article() -> Article:
    return Article.objects.create(title="a")


@override_settings(AUDIT_CREATE_DAYS_ON_WRITE=True)
def test_event_of_a_recent_day_without_partition_is_read_back_at_once(article: Article) -> None:
    when = day_bounds(utc_today() - 30 * DAY)[0] + datetime.timedelta(hours=5)
    event = _event_at(when, article)
    event.save()
    assert AuditEvent.objects.get(pk=event.pk).timestamp == when
    assert when.date() in {p.day for p in list_partitions(AuditEvent)}
    assert spooled_days(AuditEvent, "default") == []


@override_settings(AUDIT_CREATE_DAYS_ON_WRITE=True)
def test_event_of_a_future_day_without_partition_is_read_back_at_once(article: Article) -> None:
    event = _event_at(datetime.datetime.now(datetime.UTC) + 400 * DAY, article)
    event.save()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


@override_settings(AUDIT_CREATE_DAYS_ON_WRITE=True, AUDIT_ARCHIVE_AFTER_DAYS=90)
def test_event_past_the_archive_age_goes_to_a_recorded_archive_day(article: Article) -> None:
    when = datetime.datetime(2019, 3, 4, 12, tzinfo=datetime.UTC)
    event = _event_at(when, article)
    event.save()
    assert not event._state.adding
    assert ArchivedAuditEvent.objects.get(pk=event.pk).content == {}
    assert not AuditEvent.objects.filter(pk=event.pk).exists()
    (record,) = ArchivedDay.objects.filter(day=when.date())
    assert record.archive_table == ArchivedAuditEvent._meta.db_table
    assert ArchivedAuditEvent.objects.get(pk=event.pk).archive_timestamp == record.archived_at


@override_settings(AUDIT_CREATE_DAYS_ON_WRITE=True)
def test_save_inside_a_transaction_keeps_the_transaction(article: Article) -> None:
    from django.db import transaction

    with transaction.atomic():
        first = Article.objects.create(title="in the same transaction")
        event = _event_at(datetime.datetime.now(datetime.UTC) - 40 * DAY, article)
        event.save()
        assert AuditEvent.objects.filter(pk=event.pk).exists()
    assert Article.objects.filter(pk=first.pk).exists()


@override_settings(AUDIT_CREATE_DAYS_ON_WRITE=True)
def test_bulk_create_makes_missing_days(article: Article) -> None:
    days = [utc_today() - n * DAY for n in (20, 21, 200)]
    events = [
        _event_at(day_bounds(d)[0] + datetime.timedelta(minutes=m), article)
        for d in days
        for m in range(3)
    ]
    bulk_create_events(events)
    live_ids = set(AuditEvent.objects.values_list("pk", flat=True))
    archived_ids = set(ArchivedAuditEvent.objects.values_list("pk", flat=True))
    assert {e.pk for e in events[:6]} <= live_ids
    assert {e.pk for e in events[6:]} == archived_ids
    assert spooled_days(AuditEvent, "default") == []


@override_settings(AUDIT_CREATE_DAYS_ON_WRITE=False)
def test_spooled_import_warns_once_per_day_and_archive_files_it(
    article: Article, caplog: pytest.LogCaptureFixture
) -> None:
    """Without on-the-spot days, 100 events of one day log one warning, not 100."""
    when = datetime.datetime.now(datetime.UTC) - 300 * DAY
    with caplog.at_level(logging.WARNING, logger="audit_events"):
        events = [_event_at(when, article) for _ in range(100)]
        for event in events:
            event.save()
    assert len([r for r in caplog.records if r.levelno == logging.WARNING]) == 1
    assert spooled_days(AuditEvent, "default") == [when.date()]
    steps = archive_older_than(90)
    assert [(s.action, s.day) for s in steps if s.action == "drain"] == [("drain", when.date())]
    assert ArchivedAuditEvent.objects.filter(pk__in=[e.pk for e in events]).count() == 100


def test_day_that_cannot_be_made_in_time_is_spooled_losslessly(article: Article) -> None:
    """A failure to make the day (here: its lock is held elsewhere) falls back to the spool."""
    other = connection.copy()
    other.ensure_connection()
    try:
        other.connection.autocommit = False
        other.connection.execute(
            f"LOCK TABLE {connection.ops.quote_name(AuditEvent._meta.db_table)} "
            "IN SHARE UPDATE EXCLUSIVE MODE"
        )
        with override_settings(AUDIT_CREATE_DAYS_ON_WRITE=True, AUDIT_LOCK_TIMEOUT_MS=200):
            event = _event_at(datetime.datetime.now(datetime.UTC) - 33 * DAY, article)
            event.save()
    finally:
        other.connection.rollback()
        other.close()
    assert not event._state.adding
    with connection.cursor() as cursor:
        spool = spool_table(AuditEvent)
        cursor.execute(f'SELECT count(*) FROM "{spool}" WHERE id = %s', [event.pk])
        assert cursor.fetchone()[0] == 1


@override_settings(AUDIT_CREATE_DAYS_ON_WRITE=True)
@pytest.mark.usefixtures("roles")
def test_app_role_without_ddl_rights_spools_losslessly_with_one_warning(
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The application role may not create tables: its events wait in the spool, none lost."""
    from tests.fixtures_lifecycle import content_type_id

    when = day_bounds(utc_today() - 300 * DAY)[0]
    events = [
        AuditEvent(content_type_id=content_type_id(), object_id=str(n), timestamp=when)
        for n in range(3)
    ]
    with caplog.at_level(logging.WARNING, logger="audit_events"):
        for event in events:
            event.save(using="app")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert len(warnings) == 1 and "could not make the day" in warnings[0], warnings
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id FROM "{spool_table(AuditEvent)}"')
        assert {row[0] for row in cursor.fetchall()} == {e.pk for e in events}
