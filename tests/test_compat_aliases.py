"""django-audit-events' module paths and route names work under ``audit_events.``."""

from __future__ import annotations

import importlib

import pytest
from django.contrib.auth.models import User
from django.test.utils import override_settings
from django.urls import reverse
from rest_framework.test import APIClient

from audit_events import conf, context, mixins, models
from audit_events.rest import serializers as rest_serializers
from audit_events.rest import views as rest_views
from tests.testapp.models import Article

# Every public module of django-audit-events 0.3.7 with the names user code imports
# from it, and where the name lives in audit_events (the alias must be that object).
ORIGINAL_NAMES = {
    "mixin": {"AuditContextMixin": (mixins, "AuditContextMixin")},
    "views": {"AuditEventViewSet": (rest_views, "AuditEventViewSet")},
    "serializers": {"EventSerializer": (rest_serializers, "AuditEventSerializer")},
    "context": {"AuditContext": (context, "AuditContext")},
    "models": {
        "AbstractAuditEvent": (models, "AbstractAuditEvent"),
        "AbstractArchivedAuditEvent": (models, "AbstractArchivedAuditEvent"),
        "AuditEvent": (models, "AuditEvent"),
        "ArchivedAuditEvent": (models, "ArchivedAuditEvent"),
        "get_audit_event_model": (models, "get_audit_event_model"),
        "get_audit_event_archive_model": (models, "get_audit_event_archive_model"),
    },
    "conf": {"settings": (conf, "settings"), "DEFAULT_SETTINGS": (conf, "DEFAULTS")},
}


@pytest.mark.parametrize(
    ("module", "name"), [(m, n) for m, names in ORIGINAL_NAMES.items() for n in names]
)
def test_original_module_path_gives_our_object(module: str, name: str) -> None:
    """``audit_events.<module>.<name>`` is the very object of our implementation."""
    alias = importlib.import_module(f"audit_events.{module}")
    home, home_name = ORIGINAL_NAMES[module][name]
    assert getattr(alias, name) is getattr(home, home_name)


@pytest.mark.parametrize(
    ("module", "name"),
    [
        ("middleware", "AuditEventsMiddleware"),
        ("utils", "get_client_ip"),
        ("tasks", "archive_old_audit_events"),
        ("filters", "filter_events"),
        ("urls", "urlpatterns"),
        ("admin", "AuditEventAdmin"),
        ("admin", "ArchivedAuditEventAdmin"),
    ],
)
def test_other_original_module_paths_import(module: str, name: str) -> None:
    assert getattr(importlib.import_module(f"audit_events.{module}"), name) is not None


def test_mask_value_follows_the_setting() -> None:
    with override_settings(AUDIT_MASK_VALUE="[hidden]"):
        assert context.MASK_VALUE == "[hidden]"
        data = {"password": "secret", "name": "x"}
        assert context.AuditContext.mask_fields(data, ["password"]) is data
        assert data == {"password": "[hidden]", "name": "x"}


@pytest.mark.django_db
def test_from_context_copies_the_context() -> None:
    event = models.AuditEvent.from_context(context.AuditContext(url="/x", remote_addr="10.0.0.1"))
    assert isinstance(event, models.AuditEvent)
    assert (event.url, event.remote_addr, event._state.adding) == ("/x", "10.0.0.1", True)


@override_settings(ROOT_URLCONF="audit_events.urls")
def test_original_route_names_reverse_at_the_root() -> None:
    assert reverse("api-root") == "/"
    assert reverse("auditevent-list") == "/events/"
    pk = "0190a0d6-0000-7000-8000-000000000000"
    assert reverse("auditevent-detail", args=[pk]) == f"/events/{pk}/"
    assert reverse("archivedauditevent-list") == "/archived-events/"
    assert reverse("archivedauditevent-detail", args=[pk]) == f"/archived-events/{pk}/"


def test_original_route_names_reverse_in_the_namespace(settings) -> None:  # type: ignore[no-untyped-def]
    from django.urls import include, path

    module = type(importlib)("compat_urls")
    module.urlpatterns = [path("audit/", include("audit_events.urls"))]  # type: ignore[attr-defined]
    with override_settings(ROOT_URLCONF=module):
        assert reverse("audit_events:auditevent-list") == "/audit/events/"


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="audit_events.urls")
def test_original_urls_serve_our_viewset_with_our_permissions() -> None:
    article = Article.objects.create(title="a")
    context.AuditContext().create_event(article, done=True)
    client = APIClient()
    assert client.get(reverse("auditevent-list")).status_code == 403
    client.force_authenticate(User.objects.create_superuser("root", "r@example.com", "pw"))
    response = client.get(reverse("auditevent-list"))
    assert response.status_code == 200
    assert [row["content"] for row in response.data["results"]] == [{"done": True}]
