"""The append-only guard on swapped models (tests/swapapp/migrations/0002_append_only.py)."""

import pytest
from django.db import ProgrammingError, transaction

from audit_events.exceptions import AppendOnlyError
from audit_events.guard import is_guarded
from tests.swapapp.models import ArchivedTenantEvent, TenantEvent
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


def test_swapped_tables_are_guarded():
    assert is_guarded(TenantEvent) and is_guarded(ArchivedTenantEvent)


def test_swapped_event_cannot_be_changed_or_deleted():
    event = TenantEvent(content_object=Article.objects.create(title="t"), tenant="acme")
    event.save()
    with pytest.raises(AppendOnlyError):
        event.delete()
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        TenantEvent.objects.filter(pk=event.pk).update(tenant="other")
    assert TenantEvent.objects.get(pk=event.pk).tenant == "acme"
