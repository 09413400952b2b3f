"""AUDIT_EVENT_MODEL / AUDIT_EVENT_ARCHIVE_MODEL pointing at a project's own models.

Run with ``--ds=tests.settings_swapped`` (``make test`` does).
"""

import datetime

import pytest
from django.db import connection

from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.partitions import create_day_partitions, list_partitions, utc_today
from tests.swapapp.models import ArchivedTenantEvent, TenantEvent
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


def partition_strategy(table: str) -> str | None:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pt.partstrat FROM pg_partitioned_table pt WHERE pt.partrelid = %s::regclass",
            [table],
        )
        row = cursor.fetchone()
    return row[0] if row else None


def test_active_models_are_the_swapped_ones():
    assert get_audit_event_model() is TenantEvent
    assert get_audit_event_archive_model() is ArchivedTenantEvent


def test_swapped_tables_are_range_partitioned():
    assert partition_strategy("swapapp_tenantevent") == "r"
    assert partition_strategy("swapapp_archivedtenantevent") == "r"


def test_default_tables_are_not_created_when_swapped():
    tables = connection.introspection.table_names()
    assert "audit_events_auditevent" not in tables
    assert "audit_events_archivedauditevent" not in tables


def test_swapped_live_table_has_premade_partitions_and_archive_none():
    days = [p.day for p in list_partitions(TenantEvent)]
    assert days[0] == utc_today() - datetime.timedelta(days=1)
    assert list_partitions(ArchivedTenantEvent) == []


def test_swapped_model_stores_its_own_fields():
    article = Article.objects.create(title="swapped")
    event = TenantEvent(content_object=article, tenant="acme", content={"done": True})
    event.save()
    stored = TenantEvent.objects.get(pk=event.pk)
    assert (stored.tenant, stored.content) == ("acme", {"done": True})
    assert stored.content_object == article


def test_swapped_archive_table_accepts_partitions():
    day = utc_today() - datetime.timedelta(days=400)
    names = create_day_partitions(ArchivedTenantEvent, day, day)
    assert names == [f"swapapp_archivedtenantevent_p{day:%Y%m%d}"]


@pytest.mark.usefixtures("fresh_layout")
def test_rotation_archives_a_day_of_the_swapped_model():
    from audit_events.lifecycle import archive_older_than

    day = utc_today() - datetime.timedelta(days=100)
    create_day_partitions(TenantEvent, day, day)
    article = Article.objects.create(title="old")
    when = datetime.datetime.combine(day, datetime.time(9), tzinfo=datetime.UTC)
    event = TenantEvent(content_object=article, tenant="acme", timestamp=when)
    event.save()
    steps = archive_older_than(90)
    assert [s.action for s in steps] == ["archive"]  # no row read: sealing is rotation's
    archived = ArchivedTenantEvent.objects.get(pk=event.pk)
    assert (archived.tenant, archived.timestamp) == ("acme", when)
    assert not TenantEvent.objects.filter(pk=event.pk).exists()


def test_system_checks_pass_with_the_swapped_models():
    from django.core.checks import run_checks

    messages = [m for m in run_checks(databases=["default"]) if m.id.startswith("audit_events")]
    assert messages == []


@pytest.mark.usefixtures("fresh_layout")
def test_rotation_seals_a_day_of_the_swapped_model_and_verify_checks_it():
    from audit_events.lifecycle import rotate
    from audit_events.models import SealedDay
    from audit_events.tamper import verify_days

    day = utc_today() - datetime.timedelta(days=5)
    create_day_partitions(TenantEvent, day, day)
    article = Article.objects.create(title="sealed")
    when = datetime.datetime.combine(day, datetime.time(9), tzinfo=datetime.UTC)
    TenantEvent(content_object=article, tenant="acme", timestamp=when).save()
    steps = rotate()
    assert ("seal", day) in [(s.action, s.day) for s in steps]
    seal = SealedDay.objects.get(day=day)
    assert (seal.event_table, seal.row_count) == (TenantEvent._meta.db_table, 1)
    assert "tenant" in seal.hashed_columns
    assert verify_days() == []
