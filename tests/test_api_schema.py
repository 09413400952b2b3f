"""The read API against its own OpenAPI schema: schemathesis property-based runs (issue 11, item 3).

Every operation of the served schema (``/api/audit/schema/``) is called with
cases schemathesis generates from it, valid and invalid, through Django's WSGI
application, as a staff user with the view permission and as an anonymous
caller. Every answer must be no 5xx, have a documented status code and content
type, and conform to the documented body schema.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from django.contrib.auth.models import Permission, User
from django.core import signals
from django.core.wsgi import get_wsgi_application
from django.db import close_old_connections
from django.test import Client, override_settings
from hypothesis import HealthCheck, Phase, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from audit_events.models import AuditEvent, get_audit_event_archive_model
from audit_events.partitions import utc_today
from tests.fixtures_events import make_events, past_days
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

SCHEMA_URL = "/api/audit/schema/?format=json"
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_schema_conformance,
]
#: Examples per operation, caller and mode (valid / invalid input): 4 x 2 x 2 runs.
EXAMPLES = int(os.environ.get("AUDIT_SCHEMATHESIS_EXAMPLES", "10"))


@pytest.fixture
def wsgi_app() -> Iterator[Any]:
    """Django's WSGI application, serving inside the test's transaction.

    As Django's test client does, the request signals must not close the
    connection that holds the test's transaction.
    """
    signals.request_started.disconnect(close_old_connections)
    signals.request_finished.disconnect(close_old_connections)
    try:
        with override_settings(ALLOWED_HOSTS=["*"]):
            yield get_wsgi_application()
    finally:
        signals.request_started.connect(close_old_connections)
        signals.request_finished.connect(close_old_connections)


@pytest.fixture
def events() -> list[Any]:
    article = Article.objects.create(title="audited")
    live = make_events(past_days(3, end=utc_today()), 4, article)
    archived = make_events([utc_today() - datetime.timedelta(days=400)], 3, article, archived=True)
    return [live[0], archived[0]]


@pytest.fixture
def staff_cookie() -> dict[str, str]:
    staff = User.objects.create_user("auditor", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_auditevent", "view_archivedauditevent"])
    )
    client = Client()
    client.force_login(staff)
    return {"sessionid": client.cookies["sessionid"].value}


def _operations(wsgi_app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_wsgi(SCHEMA_URL, wsgi_app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert {(op.method.upper(), op.path) for op in operations} == {
        ("GET", "/api/audit/events/"),
        ("GET", "/api/audit/events/{id}/"),
        ("GET", "/api/audit/archived-events/"),
        ("GET", "/api/audit/archived-events/{id}/"),
    }
    return operations


def _run(operation: Any, mode: schemathesis.GenerationMode, cookies: dict[str, str]) -> list[int]:
    statuses: list[int] = []
    checks = CHECKS
    if not mode.is_positive and operation.path.endswith("{id}/"):
        # An id that is not a UUID never reaches the API: Django's URL resolver
        # answers it with its own (HTML) 404. Only "no server error" applies.
        checks = [not_a_server_error]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        database=None,
        phases=[Phase.explicit, Phase.generate],
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy(generation_mode=mode))
    def run(case: Any) -> None:
        response = case.call(cookies=cookies, headers={"Accept": "application/json"})
        case.validate_response(response, checks=checks)
        statuses.append(response.status_code)

    run()
    return statuses


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_every_operation_conforms_to_the_schema_as_staff(
    wsgi_app, events, staff_cookie, mode
) -> None:
    for operation in _operations(wsgi_app):
        statuses = _run(operation, mode, staff_cookie)
        assert statuses and max(statuses) < 500
        if mode.is_positive and not operation.path.endswith("{id}/"):
            assert 200 in statuses, operation.path  # the staff user reads pages


@pytest.mark.parametrize("mode", list(schemathesis.GenerationMode), ids=str)
def test_every_operation_conforms_to_the_schema_as_anonymous(wsgi_app, events, mode) -> None:
    for operation in _operations(wsgi_app):
        statuses = _run(operation, mode, {})
        assert statuses and set(statuses) <= {400, 401, 403, 404}, operation.path


def test_an_existing_event_conforms_to_the_schema(wsgi_app, events, staff_cookie) -> None:
    """Random ids are unknown (404): read one existing event of each table too."""
    live, archived = events
    ids = {"/api/audit/events/{id}/": live.pk, "/api/audit/archived-events/{id}/": archived.pk}
    for operation in _operations(wsgi_app):
        if operation.path in ids:
            case = operation.Case(path_parameters={"id": str(ids[operation.path])})
            response = case.call(cookies=staff_cookie, headers={"Accept": "application/json"})
            assert response.status_code == 200
            case.validate_response(response, checks=CHECKS)
    assert get_audit_event_archive_model().objects.filter(pk=archived.pk).exists()
    assert AuditEvent.objects.filter(pk=live.pk).exists()


def test_the_schema_is_served_at_a_documented_url(client) -> None:
    response = client.get("/api/audit/schema/", {"format": "json"})
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert set(schema["paths"]) == {
        "/api/audit/events/",
        "/api/audit/events/{id}/",
        "/api/audit/archived-events/",
        "/api/audit/archived-events/{id}/",
    }
    # Other DRF views of the project are not part of it.
    assert not any(path.startswith("/record") for path in schema["paths"])
