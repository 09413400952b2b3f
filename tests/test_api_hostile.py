"""The read API under hostile callers: every bad input is a 400 naming the parameter, never a 500
(issue 11, item 4); the rest_framework system check (audit_events.E010)."""

from __future__ import annotations

import base64
import datetime
from urllib.parse import urlencode

import pytest
from django.contrib.auth.models import Permission, User
from django.test import modify_settings, override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from rest_framework.test import APIClient

from audit_events.checks import check_rest_framework
from audit_events.ids import uuid7_for
from audit_events.partitions import day_bounds, utc_today
from tests.fixtures_events import make_events, past_days
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

EVENTS = "/api/audit/events/"
ARCHIVED = "/api/audit/archived-events/"


@pytest.fixture
def days() -> list[datetime.date]:
    days = past_days(3, end=utc_today())
    make_events(days, 4, Article.objects.create(title="audited"))
    return days


@pytest.fixture
def staff() -> APIClient:
    user = User.objects.create_user("staff", is_staff=True)
    user.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_auditevent", "view_archivedauditevent"])
    )
    client = APIClient()
    client.force_authenticate(user)
    return client


def _cursor(query: str) -> str:
    return base64.b64encode(query.encode()).decode()


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"content_type": "²"}, "content_type"),
        ({"content_type": "99999999999999999999"}, "content_type"),
        ({"content_type": "testapp.article\x00"}, "content_type"),
        ({"content_type": "testapp.article", "object_id": "a\x00"}, "object_id"),
        ({"user": "1\x00"}, "user"),
        ({"user": "99999999999999999999"}, "user"),
        ({"user": "²"}, "user"),
        ({"since": "2024-05-01\x00"}, "since"),
        ({"since": "0001-01-01T00:00:00+05:00"}, "since"),
        ({"until": "9999-12-31T23:00:00-05:00"}, "until"),
        ({"cursor": _cursor("p=garbage")}, "cursor"),
        ({"cursor": _cursor("p=2024-05-01\x00")}, "cursor"),
        ({"cursor": _cursor("p=0001-01-01 00:00:00+05:00")}, "cursor"),
        ({"cursor": "not base64!"}, "cursor"),
        ({"cursor": "é"}, "cursor"),
        ({"cursor": _cursor("o=-1&p=2024-05-01")}, "cursor"),
        ({"page_size": "0"}, "page_size"),
        ({"page_size": "-5"}, "page_size"),
        ({"page_size": "1001"}, "page_size"),
        ({"page_size": "99999999999999999999999"}, "page_size"),
        ({"page_size": "abc"}, "page_size"),
        ({"page_size": "²"}, "page_size"),
    ],
    ids=repr,
)
@pytest.mark.parametrize("url", [EVENTS, ARCHIVED])
def test_bad_input_is_a_400_naming_the_parameter(staff, days, url, params, parameter):
    response = staff.get(url, params)
    assert response.status_code == 400, response.content
    assert list(response.data) == [parameter]
    assert response.data[parameter][0]


def test_nul_in_a_parameter_name_is_a_400(staff, days):
    response = staff.get(EVENTS + "?x%00=1")
    assert response.status_code == 400
    assert list(response.data) == ["x\\x00"]


@pytest.mark.parametrize(
    ("since", "until"),
    [("-16:00", "+23:59"), ("-23:59", "-16:00"), ("+16:00", "+23:00")],
)
def test_offsets_postgresql_refuses_are_converted_to_utc(staff, days, since, until):
    """PostgreSQL accepts offsets up to ±15:59; Python up to ±23:59: the API converts."""
    day = days[1]
    start = datetime.datetime.combine(day, datetime.time(), tzinfo=datetime.UTC)
    text = {
        "since": (start + _offset(since)).replace(tzinfo=None).isoformat() + since,
        "until": (start + datetime.timedelta(days=1) + _offset(until))
        .replace(tzinfo=None)
        .isoformat()
        + until,
    }
    response = staff.get(EVENTS, text)
    assert response.status_code == 200, response.content
    assert {r["timestamp"][:10] for r in response.data["results"]} == {day.isoformat()}
    assert len(response.data["results"]) == 4


def _offset(text: str) -> datetime.timedelta:
    sign = -1 if text[0] == "-" else 1
    hours, minutes = text[1:].split(":")
    return sign * datetime.timedelta(hours=int(hours), minutes=int(minutes))


def test_a_cursor_positioned_on_an_id_pages_from_there(staff, days):
    """Pages are in id order (an id holds its time): a cursor's position is an id."""
    start, _ = day_bounds(days[-1])
    position = uuid7_for(start - datetime.timedelta(microseconds=1))  # before every id of the day
    response = staff.get(EVENTS, {"cursor": _cursor(f"p={position}")})
    assert response.status_code == 200, response.content
    assert len(response.data["results"]) == 8  # the two older days, newest first


def test_a_cursor_positioned_on_a_time_is_a_400(staff, days):
    """The position of the cursors of before (a time, even with an offset PostgreSQL
    refuses) is not an id: a 400 naming the cursor, not a 500."""
    start, _ = day_bounds(days[-1])
    moment = start.astimezone(datetime.timezone(-datetime.timedelta(hours=23)))
    response = staff.get(EVENTS, {"cursor": _cursor(f"p={moment.isoformat()}")})
    assert response.status_code == 400
    assert "cursor" in response.data


def test_cursors_the_api_hands_out_still_work(staff, days):
    first = staff.get(EVENTS, {"page_size": 5})
    second = staff.get(first.data["next"])
    assert second.status_code == 200
    assert len(first.data["results"]) + len(second.data["results"]) == 10


@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    params=st.dictionaries(
        st.sampled_from(
            ["user", "content_type", "object_id", "since", "until", "cursor", "page_size"]
        )
        | st.text(max_size=8),
        st.text(max_size=40),
        max_size=4,
    )
)
def test_any_query_string_is_answered_200_or_400(staff, days, params):
    response = staff.get(f"{EVENTS}?{urlencode(params)}")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.data and all(isinstance(key, str) for key in response.data)


def test_anonymous_browser_gets_the_browsable_api_refusal_not_a_500(days):
    response = APIClient().get(EVENTS, HTTP_ACCEPT="text/html")
    assert response.status_code in (401, 403)
    assert b"<html" in response.content


@pytest.mark.parametrize("url", [EVENTS, ARCHIVED])
def test_callers_without_permission_learn_nothing_about_ids(days, url):
    """Existing and unknown ids get the same 403, and no query touches the event tables."""
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    from audit_events.models import AuditEvent

    existing = str(AuditEvent.objects.first().pk)
    client = APIClient()
    client.force_authenticate(User.objects.create_user("staff-only", is_staff=True))
    for object_id in (existing, "018f0000-0000-7000-8000-000000000000"):
        with CaptureQueriesContext(connection) as ctx:
            response = client.get(f"{url}{object_id}/")
        assert response.status_code == 403
        assert not any("auditevent" in q["sql"] for q in ctx.captured_queries)


# --- Reads across every day are bounded in time ---------------------------------------------


def test_every_read_runs_under_a_statement_timeout(staff, days):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as ctx:
        assert staff.get(EVENTS).status_code == 200
    sqls = [q["sql"] for q in ctx.captured_queries]
    timeout = next(i for i, sql in enumerate(sqls) if "statement_timeout" in sql)
    first_event_query = next(i for i, sql in enumerate(sqls) if "audit_events_auditevent" in sql)
    assert timeout < first_event_query
    assert "'10000ms'" in sqls[timeout]


def test_a_read_stopped_by_the_timeout_is_a_503_not_a_500(staff, monkeypatch):
    """A report holding the table past the limit: the API says so instead of failing."""
    import psycopg
    from django.db import connection

    from audit_events.rest.views import AuditEventViewSet

    monkeypatch.setattr(AuditEventViewSet, "statement_timeout_ms", 300)
    params = connection.get_connection_params()
    dsn = psycopg.conninfo.make_conninfo(
        host=params["host"], port=params["port"], user=params["user"], dbname=params["dbname"]
    )
    with psycopg.connect(dsn) as other:
        other.execute("LOCK TABLE audit_events_auditevent IN ACCESS EXCLUSIVE MODE")
        response = staff.get(EVENTS)
        other.rollback()
    assert response.status_code == 503
    assert "since/until" in response.data["detail"]


# --- audit_events.E010 ----------------------------------------------------------------------


def test_rest_framework_check_passes_when_installed():
    assert check_rest_framework() == []


@modify_settings(INSTALLED_APPS={"remove": "rest_framework"})
def test_rest_framework_check_fails_when_the_api_is_routed_without_it():
    [error] = check_rest_framework()
    assert error.id == "audit_events.E010"
    assert "rest_framework" in error.hint


@modify_settings(INSTALLED_APPS={"remove": "rest_framework"})
@override_settings(ROOT_URLCONF="tests.urls_without_api")
def test_rest_framework_check_is_silent_when_the_api_is_not_routed():
    assert check_rest_framework() == []
