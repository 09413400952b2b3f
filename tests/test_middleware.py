"""AuditEventsMiddleware through Django's test clients (WSGI and ASGI)."""

import copy
import logging
import pickle

import pytest
from asgiref.sync import async_to_sync, iscoroutinefunction
from django.contrib.auth import get_user_model
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpResponse
from django.test import AsyncClient, RequestFactory, override_settings

from audit_events.context import AuditContext
from audit_events.middleware import AuditEventsMiddleware
from audit_events.models import AuditEvent

pytestmark = pytest.mark.django_db

MIDDLEWARE_WITHOUT_AUTH = [
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "audit_events.middleware.AuditEventsMiddleware",
]


@pytest.fixture
def alice():
    return get_user_model().objects.create_user("alice", password="x")


def _only_event():
    return AuditEvent.objects.get()


def test_view_records_url_user_and_client_ip(client, alice):
    client.force_login(alice)
    response = client.get("/record/?page=2")
    assert response.status_code == 200
    event = _only_event()
    assert str(event.pk) == response.json()["event"]
    assert (event.url, event.user, event.username, event.remote_addr) == (
        "http://testserver/record/?page=2",
        alice,
        "alice",
        "127.0.0.1",
    )
    assert event.content == {"action": "record"}


def test_every_request_gets_an_audit_context():
    request = RequestFactory().get("/")
    request.user = None
    AuditEventsMiddleware(lambda r: HttpResponse())(request)
    assert isinstance(request.audit_context, AuditContext)


def _spy_on_capture(monkeypatch):
    captured = []
    real = AuditContext._capture

    def spy(self, request):
        captured.append(request)
        return real(self, request)

    monkeypatch.setattr(AuditContext, "_capture", spy)
    return captured


def test_context_is_built_only_when_first_used(monkeypatch):
    captured = _spy_on_capture(monkeypatch)
    request = RequestFactory().post("/?page=2", {"a": "1"})
    request.user = None
    AuditEventsMiddleware(lambda r: HttpResponse())(request)
    request.audit_context.extra_data["step"] = 1  # not a captured part: still nothing read
    assert captured == []
    assert not hasattr(request, "_body")
    assert request.audit_context.url == "http://testserver/?page=2"
    assert request.audit_context.remote_addr == "127.0.0.1"
    assert captured == [request]  # captured once, for every part
    assert request.audit_context.extra_data == {"step": 1}


def test_request_context_is_an_audit_context_not_a_proxy():
    request = RequestFactory().get("/x/")
    request.user = None
    AuditEventsMiddleware(lambda r: HttpResponse())(request)
    assert isinstance(request.audit_context, AuditContext)
    with pytest.raises(AttributeError, match="read-only"):
        request.audit_context.url = "http://elsewhere/"
    with pytest.raises(AttributeError, match="no attribute 'nothing'"):
        request.audit_context.nothing  # noqa: B018


@pytest.mark.parametrize(
    "copier", [copy.copy, copy.deepcopy, lambda c: pickle.loads(pickle.dumps(c))]
)
def test_request_context_copies_are_plain_captured_contexts(copier):
    request = RequestFactory().get("/x/?page=3", REMOTE_ADDR="10.0.0.7")
    request.user = None
    AuditEventsMiddleware(lambda r: HttpResponse())(request)
    request.audit_context.extra_data["k"] = "v"
    clone = copier(request.audit_context)
    assert type(clone) is AuditContext
    assert (clone.url, clone.remote_addr, clone.extra_data) == (
        "http://testserver/x/?page=3",
        "10.0.0.7",
        {"k": "v"},
    )


def test_user_authenticated_inside_the_view_is_recorded(client, alice):
    client.get("/record/login/?as=alice")
    assert _only_event().user == alice


def test_drf_token_style_authentication_user_is_recorded(client, alice):
    response = client.post("/record/drf/", HTTP_X_TEST_USER="alice")
    assert response.status_code == 200
    assert (_only_event().user, _only_event().username) == (alice, "alice")


def test_anonymous_request_records_no_user(client):
    client.get("/record/")
    event = _only_event()
    assert (event.user_id, event.username) == (None, "")


@override_settings(MIDDLEWARE=MIDDLEWARE_WITHOUT_AUTH)
def test_missing_authentication_middleware_is_improperly_configured(client):
    with pytest.raises(ImproperlyConfigured, match="AuthenticationMiddleware"):
        client.get("/no-event/")


def test_async_view_records_event_through_asgi(alice):
    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        return await client.get("/record/async/?x=1", REMOTE_ADDR="2001:db8::7")

    response = async_to_sync(scenario)()
    assert response.status_code == 200
    event = _only_event()
    assert (event.user, event.content) == (alice, {"action": "async"})
    assert event.url == "http://testserver/record/async/?x=1"


def test_sync_view_records_event_under_asgi(alice):
    async def scenario():
        client = AsyncClient()
        await client.aforce_login(alice)
        return await client.get("/record/")

    assert async_to_sync(scenario)().status_code == 200
    assert _only_event().user == alice


def test_middleware_is_async_when_the_stack_is_async():
    async def get_response(request):
        return HttpResponse()

    assert iscoroutinefunction(AuditEventsMiddleware(get_response))
    assert not iscoroutinefunction(AuditEventsMiddleware(lambda r: HttpResponse()))


def _failing_resolver(request):
    raise RuntimeError("resolver bug")


@override_settings(AUDIT_CLIENT_IP_RESOLVER_FUNCTION=_failing_resolver)
def test_failing_capture_never_fails_the_request(client, caplog):
    with caplog.at_level(logging.WARNING, logger="audit_events"):
        response = client.get("/record/")
    assert response.status_code == 200
    assert _only_event().remote_addr is None
    assert "client IP" in caplog.text


@override_settings(AUDIT_INCLUDE_POST_DATA=True)
def test_view_can_read_json_body_after_recording(client):
    response = client.post(
        "/record/body/", {"a": 1, "password": "s"}, content_type="application/json"
    )
    assert response.json()["echo"] == {"a": 1, "password": "s"}
    assert _only_event().post_data == {"a": 1, "password": "********"}


@override_settings(AUDIT_INCLUDE_POST_DATA=True)
def test_view_can_read_uploaded_file_after_recording(client, tmp_path):
    upload = tmp_path / "report.txt"
    upload.write_bytes(b"x" * 1000)
    with upload.open("rb") as handle:
        response = client.post("/record/files/", {"title": "t", "upload": handle})
    assert response.json()["size"] == 1000
    assert response.json()["title"] == "t"
    assert _only_event().post_data == {"title": "t"}


@override_settings(AUDIT_INCLUDE_POST_DATA=True)
def test_body_consumed_as_stream_is_omitted_not_an_error(client):
    response = client.post("/record/stream/", {"a": 1}, content_type="application/json")
    assert response.status_code == 200
    assert _only_event().post_data == {"_omitted": {"reason": "stream already read"}}


def test_request_context_pickles_as_a_plain_audit_context(alice):
    import pickle

    request = RequestFactory().get("/orders/")
    request.user = alice
    AuditEventsMiddleware(lambda r: HttpResponse())(request)
    restored = pickle.loads(pickle.dumps(request.audit_context))
    assert type(restored) is AuditContext
    assert (restored.url, restored.username) == ("http://testserver/orders/", "alice")
