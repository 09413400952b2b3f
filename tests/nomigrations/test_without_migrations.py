"""With migrations disabled (``pytest --nomigrations``), events are stored as with them.

Run by the Makefile's ``test`` target in a session of its own::

    AUDIT_EVENTS_NOMIGRATIONS=1 pytest --nomigrations tests/nomigrations
"""

from __future__ import annotations

import datetime

import pytest
from django.core.checks import run_checks
from django.db import connection
from django.test.utils import override_settings

from audit_events import AuditContext, AuditEvent, get_audit_event_archive_model
from audit_events.guard import is_guarded
from audit_events.partitions import list_partitions, utc_today
from audit_events.syncdb import install_storage
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


def _relkind(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relkind FROM pg_class WHERE oid = to_regclass(%s)", [table])
        return str(cursor.fetchone()[0])


def test_migrations_really_are_disabled() -> None:
    assert "django_migrations" not in connection.introspection.table_names()


def test_syncdb_tables_are_rebuilt_partitioned_and_guarded() -> None:
    archive = get_audit_event_archive_model()
    assert _relkind(AuditEvent._meta.db_table) == "p"
    assert _relkind(archive._meta.db_table) == "p"
    assert _relkind(f"{AuditEvent._meta.db_table}_spool") == "r"
    assert utc_today() in {p.day for p in list_partitions(AuditEvent)}
    assert is_guarded(AuditEvent) and is_guarded(archive)


def test_events_are_saved_and_read_back() -> None:
    article = Article.objects.create(title="t")
    event = AuditContext(url="/x").create_event(article, done=True)
    stored = AuditEvent.objects.get(pk=event.pk)
    assert (stored.url, stored.content, stored.object_id) == ("/x", {"done": True}, str(article.pk))


@override_settings(AUDIT_CREATE_DAYS_ON_WRITE=True)
def test_event_of_a_past_day_is_read_back_at_once() -> None:
    article = Article.objects.create(title="t")
    event = AuditContext().new_event()
    event.content_object = article
    event.timestamp = datetime.datetime.now(datetime.UTC) - datetime.timedelta(days=20)
    event.save()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_database_checks_report_nothing() -> None:
    messages = run_checks(databases=["default"], include_deployment_checks=False)
    assert [m.id for m in messages if m.id and m.id.startswith("audit_events")] == []


def test_install_storage_again_changes_nothing() -> None:
    assert install_storage(using="default") == []
