"""bulk_create_events: many events in one COPY, with the spool as safety net."""

import datetime
import decimal
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db import IntegrityError, connection

from audit_events.bulk import bulk_create_events
from audit_events.exceptions import EventIdMismatch
from audit_events.ids import uuid7_for
from audit_events.models import ArchivedAuditEvent, AuditEvent
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.spool import drain_day, spool_table
from tests.testapp.models import Article, UuidThing

pytestmark = pytest.mark.django_db

OLD_DAY = datetime.date(2001, 2, 3)
HOUR = datetime.timedelta(hours=1)


def _spooled_ids():
    with connection.cursor() as cursor:
        cursor.execute(f'SELECT id FROM "{spool_table(AuditEvent)}"')
        return {row[0] for row in cursor.fetchall()}


def _stored(event):
    """The fields of ``event`` that are stored, as a comparable dict."""
    names = [f.attname for f in AuditEvent._meta.concrete_fields]
    stored = {name: getattr(event, name) for name in names}
    # The generic relation sets the object's own pk; the column is text.
    stored["object_id"] = str(stored["object_id"])
    return stored


def _old_event(article, hour):
    timestamp = day_bounds(OLD_DAY)[0] + datetime.timedelta(hours=hour)
    return AuditEvent(content_object=article, timestamp=timestamp, content={"hour": hour})


def test_bulk_create_stores_every_field_as_given():
    user = get_user_model().objects.create(username="ada")
    article = Article.objects.create(title="a")
    thing = UuidThing.objects.create(name="t")
    events = [
        AuditEvent(
            content_object=article,
            user=user,
            username="ada",
            remote_addr="2001:db8::1",
            url="/articles/1/",
            query_params={"q": "x"},
            post_data={"title": "a"},
            headers={"HTTP_USER_AGENT": "ua"},
            content={
                "on": datetime.date(2024, 1, 2),
                "price": decimal.Decimal("1.50"),
                "ref": uuid.UUID(int=7),
                "nested": {"list": [1, "two"]},
            },
        ),
        AuditEvent(content_object=thing, content={"action": "created"}),
    ]
    expected = [_stored(event) for event in events]

    returned = bulk_create_events(iter(events))

    assert returned == events
    assert all(not event._state.adding and event._state.db == "default" for event in events)
    stored = [_stored(AuditEvent.objects.get(pk=event.pk)) for event in events]
    expected[0]["content"] = {
        "on": "2024-01-02",
        "price": "1.50",
        "ref": str(uuid.UUID(int=7)),
        "nested": {"list": [1, "two"]},
    }
    assert stored == expected
    assert stored[1]["object_id"] == str(thing.pk)


def test_bulk_create_splits_into_batches_without_losing_rows():
    article = Article.objects.create(title="a")
    events = [AuditEvent(content_object=article, content={"n": n}) for n in range(7)]

    bulk_create_events(events, batch_size=2)

    stored = AuditEvent.objects.filter(object_id=str(article.pk))
    assert sorted(e.content["n"] for e in stored) == list(range(7))


def test_bulk_create_spools_events_of_days_without_partition():
    article = Article.objects.create(title="a")
    today_event = AuditEvent(content_object=article, content={"today": True})
    old_events = [_old_event(article, hour) for hour in (1, 2)]

    bulk_create_events([old_events[0], today_event, old_events[1]])

    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [today_event.pk]
    assert _spooled_ids() == {e.pk for e in old_events}
    assert all(not event._state.adding for event in old_events)


def test_spooled_bulk_events_reach_their_partition_unchanged():
    article = Article.objects.create(title="a")
    old_events = [_old_event(article, hour) for hour in (1, 2, 3)]
    expected = {e.pk: _stored(e) for e in old_events}
    bulk_create_events(old_events)

    create_day_partitions(AuditEvent, OLD_DAY, OLD_DAY)
    moved = drain_day(AuditEvent, AuditEvent, OLD_DAY, "default")

    assert moved == 3
    assert {e.pk: _stored(e) for e in AuditEvent.objects.all()} == expected
    assert _spooled_ids() == set()


def test_bulk_create_of_nothing_runs_no_query(django_assert_num_queries):
    with django_assert_num_queries(0):
        assert bulk_create_events([]) == []


def test_bulk_create_stores_nothing_when_a_row_is_refused():
    article = Article.objects.create(title="a")
    good = [AuditEvent(content_object=article) for _ in range(3)]
    bad = AuditEvent(content_type=good[0].content_type, object_id=None)

    with pytest.raises(IntegrityError):
        bulk_create_events([*good, bad], batch_size=2)

    assert AuditEvent.objects.count() == 0
    assert _spooled_ids() == set()


@pytest.mark.parametrize(
    ("make_events", "error", "message"),
    [
        (lambda a: [AuditEvent(content_object=a), "not an event"], TypeError, "'not an event'"),
        (
            lambda a: [AuditEvent(content_object=a), ArchivedAuditEvent(content_object=a)],
            TypeError,
            "of one model",
        ),
        (lambda a: [ArchivedAuditEvent(content_object=a)], TypeError, "archiving their day"),
        (lambda a: [AuditEvent.objects.create(content_object=a)], ValueError, "already saved"),
        (
            lambda a: [AuditEvent(content_object=a, timestamp=datetime.datetime(2024, 1, 1))],
            ValueError,
            "timezone-aware",
        ),
        (lambda a: [AuditEvent(content_object=a, timestamp=None)], ValueError, "timezone-aware"),
    ],
    ids=["not-an-event", "mixed-models", "archive-model", "saved", "naive", "no-timestamp"],
)
def test_bulk_create_refuses_bad_input_with_a_clear_error(make_events, error, message):
    article = Article.objects.create(title="a")
    events = make_events(article)
    before = AuditEvent.objects.count()

    with pytest.raises(error, match=message):
        bulk_create_events(events)

    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize("batch_size", [0, -1, 1.5, None])
def test_bulk_create_refuses_a_batch_size_below_one(batch_size):
    with pytest.raises(ValueError, match="batch_size"):
        bulk_create_events([], batch_size=batch_size)


def test_bulk_create_writes_the_day_it_is_given_in_utc():
    article = Article.objects.create(title="a")
    # 23:30 at UTC-05:00 is 04:30 UTC the next day: the row belongs to that UTC day.
    local = datetime.timezone(datetime.timedelta(hours=-5))
    today = utc_today()
    timestamp = datetime.datetime.combine(
        today - datetime.timedelta(days=1), datetime.time(23, 30), tzinfo=local
    )
    event = AuditEvent(content_object=article, timestamp=timestamp)

    bulk_create_events([event])

    assert AuditEvent.objects.get().timestamp == timestamp
    assert _spooled_ids() == set()


def test_bulk_create_converts_values_as_save_does():
    """Values that need Django's conversion get it (IPv6 normalised, non-dict JSON)."""
    article = Article.objects.create(title="a")
    saved = AuditEvent(
        content_object=article,
        remote_addr="2001:0DB8:0000::0001",
        content=["a", decimal.Decimal("2.5")],
    )
    copied = AuditEvent(
        content_object=article,
        remote_addr="2001:0DB8:0000::0001",
        content=["a", decimal.Decimal("2.5")],
    )
    saved.save()

    bulk_create_events([copied])

    rows = {e.pk: e for e in AuditEvent.objects.all()}
    fields = ("remote_addr", "content")
    assert [getattr(rows[copied.pk], f) for f in fields] == [
        getattr(rows[saved.pk], f) for f in fields
    ]
    assert rows[copied.pk].remote_addr == "2001:db8::1"


@pytest.mark.parametrize(
    ("spoil", "error", "message"),
    [
        (lambda event: event.content.update(when=object()), TypeError, "when"),
        (
            lambda event: setattr(event, "id", uuid7_for(event.timestamp - HOUR)),
            EventIdMismatch,
            "is not an id of its timestamp",
        ),
    ],
    ids=["unencodable-content", "id-of-another-time"],
)
def test_a_row_refused_while_copying_stores_nothing(spoil, error, message):
    # Rows are made as they are sent: a bad one late in a batch stops the
    # COPY that already carries the rows before it, and none of them stay.
    article = Article.objects.create(title="a")
    events = [AuditEvent(content_object=article, content={"n": n}) for n in range(7)]
    spoil(events[5])

    with pytest.raises(error, match=message):
        bulk_create_events(events, batch_size=3)

    assert AuditEvent.objects.count() == 0
    assert _spooled_ids() == set()
    assert all(event._state.adding for event in events)
