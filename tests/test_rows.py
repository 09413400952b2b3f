"""save() of a new event uses a prepared single-row INSERT with Django's semantics."""

import datetime
import decimal
import uuid

import pytest
from django.contrib.auth import get_user_model
from django.db.models.signals import post_save, pre_save
from django.forms.models import model_to_dict

from audit_events.models import AuditEvent
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

CONTENT = {
    "when": datetime.date(2026, 1, 2),
    "price": decimal.Decimal("1.50"),
    "ref": uuid.UUID(int=7),
    "nested": {"list": [1, "two", None]},
}


def stored(event):
    row = model_to_dict(AuditEvent.objects.get(pk=event.pk))
    return {key: value for key, value in row.items() if key != "id"}


def test_direct_insert_stores_what_djangos_insert_stores():
    article = Article.objects.create(title="same row")
    user = get_user_model().objects.create(username="ann")
    fields = dict(
        content_object=article,
        user=user,
        username="ann",
        url="/x?y=1",
        remote_addr="2001:db8::1",
        headers={"User-Agent": "t"},
        content=CONTENT,
    )
    direct = AuditEvent(**fields)
    direct.save()  # the direct INSERT
    through_django = AuditEvent(**fields, timestamp=direct.timestamp)
    through_django.save(force_insert=True)  # any other argument takes Django's own path
    assert stored(direct) == stored(through_django)
    assert stored(direct)["content"] == {
        "when": "2026-01-02",
        "price": "1.50",
        "ref": str(uuid.UUID(int=7)),
        "nested": {"list": [1, "two", None]},
    }


def test_direct_insert_sends_save_signals_and_marks_the_instance_saved():
    seen = []

    def on_pre_save(sender, instance, **kwargs):
        seen.append(("pre", instance._state.adding))

    def on_post_save(sender, instance, created, **kwargs):
        seen.append(("post", created, instance._state.adding))

    pre_save.connect(on_pre_save, sender=AuditEvent)
    post_save.connect(on_post_save, sender=AuditEvent)
    try:
        event = AuditEvent(content_object=Article.objects.create(title="signals"))
        event.save()
    finally:
        pre_save.disconnect(on_pre_save, sender=AuditEvent)
        post_save.disconnect(on_post_save, sender=AuditEvent)
    assert seen == [("pre", True), ("post", True, False)]
    assert event._state.db == "default"


def test_unencodable_content_names_its_key_and_writes_nothing():
    event = AuditEvent(
        content_object=Article.objects.create(title="bad"),
        content={"ok": 1, "bad": {"inner": object()}},
    )
    with pytest.raises(TypeError, match=r"bad\.inner"):
        event.save()
    assert not AuditEvent.objects.exists()


def _prepared_inserts(table):
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_prepared_statements WHERE statement LIKE %s",
            [f'INSERT INTO "{table}"%'],
        )
        return cursor.fetchone()[0]


def test_the_insert_is_prepared_once_per_session_and_reused():
    from audit_events.context import AuditContext

    article = Article.objects.create(title="prepared")
    table = AuditEvent._meta.db_table
    assert _prepared_inserts(table) == 0
    events = [AuditContext().create_event(article, n=n) for n in range(5)]
    assert _prepared_inserts(table) == 1  # parsed and planned once, executed five times
    assert AuditEvent.objects.filter(pk__in=[e.pk for e in events]).count() == 5


def test_watched_cursors_see_the_insert(django_assert_num_queries):
    """With Django's query log on (assertNumQueries, DEBUG), the INSERT goes through it."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    article = Article.objects.create(title="watched")
    with CaptureQueriesContext(connection) as ctx:
        AuditEvent(content_object=article).save()
    assert [q for q in ctx.captured_queries if q["sql"].startswith("INSERT INTO")]
    assert _prepared_inserts(AuditEvent._meta.db_table) == 0


@pytest.mark.parametrize(
    "address",
    ["10.1.2.3", "2001:db8::1", "2001:0DB8:0:0::1", "::ffff:10.1.2.3", "fe80::1", None],
)
def test_addresses_in_any_form_are_stored_as_djangos_insert_stores_them(address):
    """Canonical addresses go to the server as text; any other form takes Django's path."""
    article = Article.objects.create(title="address")
    direct = AuditEvent(content_object=article, remote_addr=address)
    direct.save()
    through_django = AuditEvent(
        content_object=article, remote_addr=address, timestamp=direct.timestamp
    )
    through_django.save(force_insert=True)
    assert stored(direct)["remote_addr"] == stored(through_django)["remote_addr"]


def test_a_malformed_address_is_refused_as_django_refuses_it():
    article = Article.objects.create(title="bad address")
    with pytest.raises(ValueError, match="does not appear to be an IPv4 or IPv6 address"):
        AuditEvent(content_object=article, remote_addr="10.1.2.300").save()
    assert not AuditEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
def test_the_insert_survives_a_reconnection():
    """The insert cursor belongs to one session: a new connection gets its own."""
    from django.db import connection

    from audit_events.context import AuditContext

    article = Article.objects.create(title="reconnect")
    first = AuditContext().create_event(article, n=1)
    connection.close()
    second = AuditContext().create_event(article, n=2)
    assert _prepared_inserts(AuditEvent._meta.db_table) == 1  # prepared anew in this session
    assert AuditEvent.objects.filter(pk__in=[first.pk, second.pk]).count() == 2
