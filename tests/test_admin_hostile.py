"""The admin under hostile viewers: no 500, only offered lookups, no read of every partition,
the permission checked before any event query (issue 11, items 5 and 6)."""

from __future__ import annotations

import datetime
from typing import Any

import psycopg
import pytest
from django.contrib.auth.models import Permission, User
from django.db import connection
from django.test.utils import CaptureQueriesContext
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit_events.admin import AuditEventAdmin
from audit_events.models import ArchivedDay, AuditEvent
from audit_events.partitions import utc_today
from tests.fixtures_events import make_events, past_days
from tests.test_admin import CHANGELIST, day_query
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

ARCHIVE_CHANGELIST = "/admin/audit_events/archivedauditevent/"
DAYS_CHANGELIST = "/admin/audit_events/archivedday/"
UNKNOWN_ID = "018f0000-0000-7000-8000-000000000000"


@pytest.fixture
def article() -> Article:
    return Article.objects.create(title="audited")


@pytest.fixture
def week(article: Article) -> list[datetime.date]:
    """Seven days of events, 5 a day, ending today (21 more days are premade partitions)."""
    days = past_days(7, end=utc_today())
    make_events(days, 5, article)
    return days


def _partitions_read(sql: str) -> set[str]:
    """The partitions of either event table that the plan of ``sql`` reads."""
    from tests.test_admin import _plan_relations

    return {
        name
        for name in _plan_relations(sql)
        if name.startswith(("audit_events_auditevent_p", "audit_events_archivedauditevent_p"))
    }


def _event_queries(captured: list[dict[str, str]]) -> list[str]:
    return [
        q["sql"]
        for q in captured
        if "audit_events_auditevent" in q["sql"] or "audit_events_archivedauditevent" in q["sql"]
    ]


def _get_following(client: Any, url: str, params: dict[str, Any]) -> tuple[Any, list[str]]:
    """GET ``url`` and follow redirects, returning the last response and every event query run."""
    with CaptureQueriesContext(connection) as ctx:
        response = client.get(url, params, follow=True)
    return response, _event_queries(ctx.captured_queries)


HOSTILE_EVENT_QUERIES = [
    {"content_type__id__exact": "1", "object_id": "a\x00"},
    {"object_id": "1"},  # no content type: no index serves it
    {"url": "a\x00"},
    {"username": "a\x00"},
    {"user_id": "1\x00"},
    {"user_id": "99999999999999999999"},
    {"content_type__id__exact": "a\x00"},
    {"timestamp__year": "9999"},
    {"timestamp__year": "9998", "timestamp__month": "12", "timestamp__day": "32"},
    {"timestamp__year": "0"},
    {"timestamp__year": "x"},
    {"timestamp__year": "²"},
    {"timestamp__month": "5"},
    {"timestamp__year": "2024", "timestamp__day": "5"},
    {"object_id__regex": "["},
    {"url__regex": "."},
    {"post_data__password": "x"},
    {"remote_addr": "x"},
    {"e": "1", "remote_addr": "x"},
    {"e": "1"},
    {"timestamp__gte": "0001-01-01"},
    {"timestamp__isnull": "false"},
    {"id": UNKNOWN_ID},
    {"content_type__app_label": "auth"},
    {"p": "99999999999999999999"},
]


@pytest.mark.parametrize("params", HOSTILE_EVENT_QUERIES, ids=repr)
@pytest.mark.parametrize("url", [CHANGELIST, ARCHIVE_CHANGELIST])
def test_hostile_changelist_parameters_never_fail_nor_read_every_partition(
    admin_client, week, url, params
):
    response, queries = _get_following(admin_client, url, params)
    assert response.status_code == 200
    for sql in queries:
        assert len(_partitions_read(sql)) <= 1, sql


@pytest.mark.parametrize(
    "params",
    [
        {"url__regex": "."},
        {"post_data__password": "x"},
        {"timestamp__gte": "0001-01-01"},
        {"timestamp__month": "5"},
        {"timestamp__isnull": "false"},
        {"object_id__regex": "["},
        {"timestamp__year": "9999"},
        {"content_type__id__exact": "1", "object_id": "a\x00"},
    ],
    ids=repr,
)
def test_lookups_not_offered_or_invalid_go_to_the_invalid_filter_redirect(
    admin_client, week, params
):
    """Refused by Django's own handling (redirect to ?e=1) before any event query."""
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(CHANGELIST, params)
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")
    assert _event_queries(ctx.captured_queries) == []


def test_a_post_to_the_changelist_does_not_read_every_partition(admin_client, week):
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.post(CHANGELIST, {"action": "delete_selected"})
    assert response.status_code == 302
    for sql in _event_queries(ctx.captured_queries):
        assert len(_partitions_read(sql)) <= 1, sql


def test_invalid_filter_lands_on_the_newest_day_with_a_message(admin_client, week):
    response = admin_client.get(CHANGELIST, {"url__regex": "."}, follow=True)
    newest = week[-1]
    assert response.redirect_chain[-1][0].endswith(
        f"?timestamp__year={newest.year}&timestamp__month={newest.month}"
        f"&timestamp__day={newest.day}"
    )
    assert "not offered" in " ".join(str(m) for m in response.context["messages"])
    assert len(response.context["cl"].result_list) == 5


def test_offered_lookups_still_filter(admin_client, article, week):
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(Article)
    response = admin_client.get(
        CHANGELIST, {"content_type__id__exact": content_type.pk, "object_id": article.pk}
    )
    assert response.status_code == 200
    assert response.context["cl"].result_count == 35
    response = admin_client.get(CHANGELIST, day_query(week[2]))
    assert response.context["cl"].result_count == 5


def test_sorting_on_a_column_not_offered_is_ignored(admin_client, week):
    url_column = AuditEventAdmin.list_display.index("url")
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(CHANGELIST, day_query(week[-1], o=str(url_column)))
    assert response.status_code == 200
    pages = [q for q in _event_queries(ctx.captured_queries) if q.startswith('SELECT "audit')]
    assert pages
    for page in pages:
        assert '"url" ASC' not in page and '"url" DESC' not in page
        assert '"id" DESC' in page  # time order is id order (audit_events.ids)


@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
@given(
    key=st.sampled_from(["timestamp__year", "timestamp__month", "user_id", "object_id", "o", "p"])
    | st.text(max_size=20),
    value=st.text(max_size=20),
)
def test_any_single_parameter_is_answered_without_a_server_error(admin_client, week, key, value):
    response, queries = _get_following(admin_client, CHANGELIST, {key: value})
    assert response.status_code in (200, 400)
    for sql in queries:
        assert len(_partitions_read(sql)) <= 1, sql


@pytest.mark.parametrize(
    "params",
    [
        {"archive_table": "a\x00"},
        {"archive_table__exact": "a\x00"},
        {"digest__regex": "["},
        {"day__year": "9999"},
        {"day__month": "5"},
        {"row_count__gt": "x"},
    ],
    ids=repr,
)
def test_hostile_archived_day_parameters_never_fail(admin_client, params):
    ArchivedDay.objects.create(archive_table="t", day=datetime.date(2024, 5, 1), digest="d")
    response = admin_client.get(DAYS_CHANGELIST, params, follow=True)
    assert response.status_code == 200
    assert response.redirect_chain[0][0].endswith("?e=1")


# --- Staff without the view permission (item 6) ------------------------------------------


@pytest.fixture
def staff_client(client):
    staff = User.objects.create_user("staff-only", password="pw", is_staff=True)
    # Another model's permission: the admin index is reachable, the events are not.
    staff.user_permissions.add(Permission.objects.get(codename="view_user"))
    client.force_login(staff)
    client.get("/admin/")  # loads session and permissions
    return client


@pytest.mark.parametrize("base", [CHANGELIST, ARCHIVE_CHANGELIST])
@pytest.mark.parametrize("suffix", ["change/", "history/", "delete/"])
def test_staff_without_permission_get_the_same_answer_for_existing_and_unknown_ids(
    staff_client, week, base, suffix
):
    existing = str(AuditEvent.objects.first().pk)
    answers = []
    for object_id in (existing, UNKNOWN_ID, "not-a-uuid"):
        with CaptureQueriesContext(connection) as ctx:
            response = staff_client.get(f"{base}{object_id}/{suffix}")
        answers.append(response.status_code)
        assert _event_queries(ctx.captured_queries) == []
    assert answers == [403, 403, 403]


@pytest.mark.parametrize("base", [CHANGELIST, ARCHIVE_CHANGELIST])
@pytest.mark.parametrize("params", [{}, {"e": "1"}, {"url__regex": "."}, {"user_id": "1"}])
def test_staff_without_permission_are_refused_before_any_event_query(
    staff_client, week, base, params
):
    with CaptureQueriesContext(connection) as ctx:
        response = staff_client.get(base, params)
    assert response.status_code == 403
    assert _event_queries(ctx.captured_queries) == []
    assert not any("pg_inherits" in q["sql"] for q in ctx.captured_queries)


def test_viewer_with_permission_still_reads_existing_and_unknown_ids(client, week):
    viewer = User.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(viewer)
    existing = str(AuditEvent.objects.first().pk)
    assert client.get(f"{CHANGELIST}{existing}/change/").status_code == 200
    # Django's own answer for an unknown id, to those allowed to know.
    assert client.get(f"{CHANGELIST}{UNKNOWN_ID}/change/").status_code == 302


# --- Views across all days are bounded in time -------------------------------------------


def test_views_across_all_days_run_under_a_statement_timeout(admin_client, article, week):
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(CHANGELIST, {"user_id": "1"})
    assert response.status_code == 200
    sqls = [q["sql"] for q in ctx.captured_queries]
    timeout = next(i for i, sql in enumerate(sqls) if "statement_timeout" in sql)
    events = _event_queries(ctx.captured_queries)
    first_event_query = next(i for i, sql in enumerate(sqls) if sql in events)
    assert timeout < first_event_query
    assert "'10000ms'" in sqls[timeout]


def test_a_query_stopped_by_the_timeout_is_a_503_page_not_a_500(admin_client, monkeypatch):
    """A report holding the table past the limit: the page says so instead of failing."""
    monkeypatch.setattr(AuditEventAdmin, "statement_timeout_ms", 300)
    params = connection.get_connection_params()
    dsn = psycopg.conninfo.make_conninfo(
        host=params["host"], port=params["port"], user=params["user"], dbname=params["dbname"]
    )
    with psycopg.connect(dsn) as other:
        other.execute("LOCK TABLE audit_events_auditevent IN ACCESS EXCLUSIVE MODE")
        response = admin_client.get(CHANGELIST, {"user_id": "1"})
        other.rollback()
    assert response.status_code == 503
    assert b"took longer than the page allows" in response.content
