"""AuditContext: events, per-context extra_data, read-only attributes, copy and pickle."""

import copy
import datetime
import decimal
import pickle
import threading
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AnonymousUser
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import RequestFactory
from django.utils.functional import SimpleLazyObject

import audit_events
from audit_events.context import AuditContext
from audit_events.models import AuditEvent, get_audit_event_model
from tests.testapp.models import Article, BigThing, SlugThing, UuidThing

pytestmark = pytest.mark.django_db


@pytest.fixture
def article():
    return Article.objects.create(title="first")


@pytest.fixture
def user():
    return get_user_model().objects.create_user("alice", password="x")


def _request_with_lazy_user(user):
    request = RequestFactory().get("/orders/?page=2", REMOTE_ADDR="192.0.2.7")
    request.user = SimpleLazyObject(lambda: user)
    return request


def test_audit_context_is_importable_from_the_package():
    assert audit_events.AuditContext is AuditContext


def test_new_event_is_unsaved_event_of_the_configured_model_with_context_data(user):
    context = AuditContext(
        url="https://example.com/a?b=1",
        remote_addr="192.0.2.1",
        user=user,
        query_params={"b": "1"},
        post_data={"c": "2"},
        headers={"X-A": "3"},
    )
    context.extra_data["foo"] = "bar"
    event = context.new_event()
    assert isinstance(event, get_audit_event_model())
    assert event._state.adding
    assert (event.url, event.remote_addr, event.user, event.username) == (
        "https://example.com/a?b=1",
        "192.0.2.1",
        user,
        "alice",
    )
    assert (event.query_params, event.post_data, event.headers) == (
        {"b": "1"},
        {"c": "2"},
        {"X-A": "3"},
    )
    assert event.content == {"foo": "bar"}
    assert AuditEvent.objects.count() == 0


def test_new_event_content_is_a_copy_of_extra_data():
    context = AuditContext(extra_data={"nested": {"a": 1}})
    event = context.new_event()
    event.content["nested"]["a"] = 2
    assert context.extra_data == {"nested": {"a": 1}}


def test_create_event_saves_event_about_the_object(article, user):
    context = AuditContext(user=user, remote_addr="2001:db8::1")
    event = context.create_event(article, something="done", bar="baz")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.content == {"something": "done", "bar": "baz"}
    assert stored.content_object == article
    assert stored.user == user and stored.username == "alice"
    assert stored.remote_addr == "2001:db8::1"


def test_per_event_content_wins_over_extra_data(article):
    context = AuditContext()
    context.extra_data.update(foo="bar", keep="me")
    event = context.create_event(article, foo="baz")
    assert AuditEvent.objects.get(pk=event.pk).content == {"foo": "baz", "keep": "me"}
    assert context.extra_data["foo"] == "bar"


def test_extra_data_belongs_to_one_context(article):
    first, second = AuditContext(), AuditContext()
    first.extra_data["tenant"] = "a"
    assert second.extra_data == {}
    assert second.create_event(article).content == {}


def test_extra_data_does_not_leak_between_threads(article):
    """Each thread's context sees only its own extra_data (the original shared one dict)."""
    seen = {}
    barrier = threading.Barrier(4)

    def work(name):
        context = AuditContext()
        context.extra_data["who"] = name
        barrier.wait()
        seen[name] = dict(context.extra_data)

    threads = [threading.Thread(target=work, args=(f"t{i}",)) for i in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert seen == {f"t{i}": {"who": f"t{i}"} for i in range(4)}
    assert AuditContext().extra_data == {}


@pytest.mark.parametrize(
    "name",
    [
        "url",
        "remote_addr",
        "user",
        "query_params",
        "post_data",
        "headers",
        "extra_data",
        "username",
        "anything",
    ],
)
def test_attributes_are_read_only(name):
    context = AuditContext(url="/x")
    with pytest.raises(AttributeError):
        setattr(context, name, "changed")
    assert context.url == "/x"


def test_attributes_cannot_be_deleted():
    with pytest.raises(AttributeError):
        del AuditContext().url


def test_copy_has_its_own_extra_data():
    context = AuditContext(url="/x", extra_data={"a": 1})
    clone = copy.copy(context)
    clone.extra_data["a"] = 2
    assert context.extra_data == {"a": 1}
    assert clone.url == "/x"


def test_deepcopy_has_its_own_nested_extra_data():
    context = AuditContext(extra_data={"a": {"b": 1}})
    clone = copy.deepcopy(context)
    clone.extra_data["a"]["b"] = 2
    assert context.extra_data == {"a": {"b": 1}}


def test_copy_of_request_context_still_reads_the_request_user(user):
    request = _request_with_lazy_user(AnonymousUser())
    context = AuditContext.from_request(request)
    clone = copy.deepcopy(context)
    request.user = user
    assert clone.user == user


def test_pickled_context_with_lazy_request_user_records_that_user(article, user):
    context = AuditContext.from_request(_request_with_lazy_user(user))
    context.extra_data["task"] = "export"
    restored = pickle.loads(pickle.dumps(context))
    event = restored.create_event(article)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.user_id, stored.username) == (user.pk, "alice")
    assert stored.url == "http://testserver/orders/?page=2"
    assert stored.remote_addr == "192.0.2.7"
    assert stored.content == {"task": "export"}
    assert restored.user == user


def test_as_dict_round_trips_through_json_for_celery(article, user):
    import json

    from kombu.utils.json import dumps, loads

    context = AuditContext(url="/x", user=user, extra_data={"a": 1})
    data = loads(dumps(context.as_dict()))
    assert json.loads(json.dumps(data)) == data
    restored = AuditContext.from_dict(data)
    assert restored.create_event(article).username == "alice"
    assert restored.extra_data == {"a": 1}


def test_context_works_outside_any_request(article):
    context = AuditContext()
    event = context.create_event(article, source="management command")
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.user_id, stored.username, stored.url, stored.remote_addr) == (None, "", "", None)


def test_anonymous_user_is_recorded_as_no_user(article):
    event = AuditContext(user=AnonymousUser()).create_event(article)
    assert event.user_id is None and event.username == ""


def test_create_fields_event_encodes_dates_decimals_and_uuids(article):
    article.published = datetime.date(2024, 2, 29)
    article.price = decimal.Decimal("12.50")
    article.reference = uuid.UUID("12345678-1234-5678-1234-567812345678")
    article.save()
    event = AuditContext().create_fields_event(
        article, "title", "published", "price", "reference", reason="edit"
    )
    assert AuditEvent.objects.get(pk=event.pk).content == {
        "title": "first",
        "published": "2024-02-29",
        "price": "12.50",
        "reference": "12345678-1234-5678-1234-567812345678",
        "reason": "edit",
    }


def test_create_fields_event_field_value_replaces_same_named_kwarg(article):
    event = AuditContext().create_fields_event(article, "title", title="ignored")
    assert event.content == {"title": "first"}


def test_create_fields_event_stores_foreign_keys_as_ids(article):
    ctype = ContentType.objects.get_for_model(Article)
    event = AuditContext().create_event(article)
    fields_event = AuditContext().create_fields_event(event, "content_type")
    assert fields_event.content == {"content_type": ctype.pk}


@pytest.mark.parametrize(
    "make",
    [
        lambda: BigThing.objects.create(id=2**40, name="big"),
        lambda: UuidThing.objects.create(name="uuid"),
        lambda: SlugThing.objects.create(slug="a-slug"),
    ],
)
def test_events_about_bigint_uuid_and_string_keys(make):
    obj = make()
    event = AuditContext().create_event(obj)
    assert AuditEvent.objects.get(pk=event.pk).content_object == obj


def test_unencodable_content_raises_type_error_naming_the_key_and_writes_nothing(article):
    with pytest.raises(TypeError, match="'when'"):
        AuditContext().create_event(article, ok=1, when=object())
    assert AuditEvent.objects.count() == 0
    with connection.cursor() as cursor:  # the transaction is still usable
        cursor.execute("SELECT 1")


def test_unencodable_nested_content_names_the_path(article):
    with pytest.raises(TypeError, match=r"'order\.items\[1\]'"):
        AuditContext().create_event(article, order={"items": [1, {1, 2}]})
    assert AuditEvent.objects.count() == 0


def test_unencodable_extra_data_names_the_key(article):
    context = AuditContext(extra_data={"conn": threading.Lock()})
    with pytest.raises(TypeError, match="'conn'"):
        context.create_event(article)


def test_create_event_rejects_an_unsaved_object():
    with pytest.raises(ValueError, match="saved"):
        AuditContext().create_event(Article(title="unsaved"))
    assert AuditEvent.objects.count() == 0


def test_nul_characters_are_stored_as_replacement_characters(article):
    user = get_user_model()(pk=987654, username="bad\x00name")
    context = AuditContext(
        url="https://example.com/a\x00b",
        user=user,
        headers={"X-A": "h\x00"},
        extra_data={"k\x00ey": "v\x00al"},
    )
    event = context.create_event(article, note=["x\x00y", {"deep": "\x00"}])
    stored = AuditEvent.objects.get(pk=event.pk)
    assert stored.url == "https://example.com/a\ufffdb"
    assert stored.username == "bad\ufffdname"
    assert stored.headers == {"X-A": "h\ufffd"}
    assert stored.content == {"k\ufffdey": "v\ufffdal", "note": ["x\ufffdy", {"deep": "\ufffd"}]}


def test_very_long_url_is_stored_whole(article):
    url = "https://example.com/search?q=" + "x" * 200_000
    event = AuditContext(url=url).create_event(article)
    assert AuditEvent.objects.get(pk=event.pk).url == url


def test_long_username_is_cut_to_the_column_length(article):
    user = get_user_model()(pk=987655, username="u" * 300)
    event = AuditContext(user=user).create_event(article)
    assert AuditEvent.objects.get(pk=event.pk).username == "u" * 150


def test_invalid_remote_addr_is_recorded_as_none(article):
    assert AuditContext(remote_addr="not-an-ip").create_event(article).remote_addr is None


def test_async_create_fields_event(article):
    from asgiref.sync import async_to_sync

    event = async_to_sync(AuditContext().acreate_fields_event)(article, "title", via="async")
    assert AuditEvent.objects.get(pk=event.pk).content == {"title": "first", "via": "async"}
