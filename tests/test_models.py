"""The event models on partitioned tables: ORM access and generic relations."""

import datetime
import uuid

import pytest
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.test import override_settings
from django.utils import timezone

from audit_events.models import (
    ArchivedAuditEvent,
    AuditEvent,
    get_audit_event_archive_model,
    get_audit_event_model,
)
from tests.testapp.models import Article, BigThing, SlugThing, UuidThing

pytestmark = pytest.mark.django_db


def record(obj, **content):
    event = AuditEvent(content_object=obj, content=content)
    event.save()
    return event


@pytest.mark.parametrize(
    "make",
    [
        lambda: Article.objects.create(title="int pk"),
        lambda: BigThing.objects.create(id=2**40, name="bigint pk"),
        lambda: UuidThing.objects.create(name="uuid pk"),
        lambda: SlugThing.objects.create(slug="string-pk/with spaces"),
    ],
    ids=["int", "bigint", "uuid", "string"],
)
def test_any_primary_key_type_can_be_audited(make):
    obj = make()
    event = record(obj, action="touched")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.object_id == str(obj.pk)
    assert stored.content_object == obj


def test_get_filter_and_ordering_work_across_partitions():
    article = Article.objects.create(title="a")
    now = timezone.now()
    yesterday = AuditEvent(
        content_object=article, content={"n": 1}, timestamp=now - datetime.timedelta(days=1)
    )
    yesterday.save()
    today = record(article, n=2)
    ordered = list(AuditEvent.objects.filter(object_id=str(article.pk)).order_by("timestamp"))
    assert [e.pk for e in ordered] == [yesterday.pk, today.pk]
    assert AuditEvent.objects.latest().pk == today.pk


def test_events_of_an_object_via_content_type_and_object_id():
    first, second = Article.objects.create(title="1"), Article.objects.create(title="2")
    record(first), record(first), record(second)
    content_type = ContentType.objects.get_for_model(Article)
    events = AuditEvent.objects.filter(content_type=content_type, object_id=str(first.pk))
    assert events.count() == 2


def test_explicit_timestamp_is_kept():
    article = Article.objects.create(title="backfill")
    when = timezone.now() - datetime.timedelta(hours=1)  # yesterday at the earliest: premade
    event = AuditEvent(content_object=article, timestamp=when)
    event.save()
    assert AuditEvent.objects.get(pk=event.pk).timestamp == when


def test_ids_are_time_ordered_uuid7():
    article = Article.objects.create(title="ids")
    ids = [record(article).pk for _ in range(5)]
    assert all(isinstance(i, uuid.UUID) and i.version == 7 for i in ids)
    assert ids == sorted(ids)


def test_event_outlives_its_target_object():
    article = Article.objects.create(title="deleted later")
    event = record(article)
    article.delete()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.content_object is None
    assert stored.object_id == str(event.object_id)


def test_default_models_are_active():
    assert get_audit_event_model() is AuditEvent
    assert get_audit_event_archive_model() is ArchivedAuditEvent


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("no_dot", "must be of the form"),
        ("testapp.Missing", "has not been installed"),
        (3, "must be"),
    ],
)
def test_bad_model_setting_raises_improperly_configured(value, message):
    with override_settings(AUDIT_EVENT_MODEL=value), pytest.raises(ImproperlyConfigured) as info:
        get_audit_event_model()
    assert "AUDIT_EVENT_MODEL" in str(info.value)
    assert message in str(info.value)


def test_uuid7_is_strictly_increasing_within_one_millisecond():
    from audit_events.ids import uuid7

    ids = [uuid7() for _ in range(10_000)]
    assert ids == sorted(ids)
    assert len(set(ids)) == len(ids)
    assert {i.version for i in ids} == {7}


def test_nul_in_hand_set_text_fields_is_replaced_not_refused():
    article = Article.objects.create(title="nul")
    event = AuditEvent(content_object=article, url="/a\x00b", username="x\x00y")
    event.save()
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.url, stored.username) == ("/a\ufffdb", "x\ufffdy")


def test_archived_events_carry_the_archive_time_of_their_day():
    from audit_events.models import ArchivedDay
    from audit_events.partitions import create_day_partitions

    day = timezone.now().date() - datetime.timedelta(days=200)
    create_day_partitions(ArchivedAuditEvent, day, day)
    article = Article.objects.create(title="archived")
    when = datetime.datetime.combine(day, datetime.time(12), tzinfo=datetime.UTC)
    ArchivedAuditEvent(content_object=article, timestamp=when).save()
    archived_at = timezone.now()
    ArchivedDay.objects.create(
        archive_table=ArchivedAuditEvent._meta.db_table, day=day, archived_at=archived_at
    )
    (event,) = ArchivedAuditEvent.objects.all()
    assert event.archive_timestamp == archived_at


def test_archived_event_for_a_day_without_partition_says_what_to_do():
    from audit_events.exceptions import PartitioningError

    article = Article.objects.create(title="no archive day")
    when = timezone.now() - datetime.timedelta(days=500)
    with pytest.raises(PartitioningError, match="create_day_partitions"):
        ArchivedAuditEvent(content_object=article, timestamp=when).save()
