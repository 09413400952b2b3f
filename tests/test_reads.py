"""Reads in primary-key order: pages, detail lookups and an object's timeline.

An id holds its event's timestamp, so pages sort by the primary key (a backward
index scan, no sort node, whatever the day's size) and a lookup by id reads one
day table.
"""

from __future__ import annotations

import datetime
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.test import APIClient

import audit_events
from audit_events.ids import uuid7_for
from audit_events.models import ArchivedAuditEvent, AuditEvent
from audit_events.partitions import utc_today
from tests.fixtures_events import make_events, past_days
from tests.fixtures_lifecycle import insert_rows
from tests.test_admin import CHANGELIST, day_query
from tests.test_api import EVENTS, all_pages
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db


@pytest.fixture
def article() -> Article:
    return Article.objects.create(title="read")


@pytest.fixture
def staff_client() -> APIClient:
    from django.contrib.auth.models import Permission, User

    staff = User.objects.create_user("staff", is_staff=True)
    staff.user_permissions.add(*Permission.objects.filter(codename="view_auditevent"))
    client = APIClient()
    client.force_authenticate(staff)
    return client


def _plan(sql: str) -> dict[str, Any]:
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        return cursor.fetchone()[0][0]["Plan"]


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    return [plan, *[n for child in plan.get("Plans", []) for n in _nodes(child)]]


def _relations(plan: dict[str, Any]) -> set[str]:
    return {n["Relation Name"] for n in _nodes(plan) if "Relation Name" in n}


def _page_queries(captured: list[dict[str, str]]) -> list[str]:
    return [
        q["sql"]
        for q in captured
        if 'FROM "audit_events_auditevent"' in q["sql"]
        and "ORDER BY" in q["sql"]
        and "EXPLAIN" not in q["sql"]
    ]


def _assert_pk_order_no_sort(sql: str) -> dict[str, Any]:
    plan = _plan(sql)
    types = [n["Node Type"] for n in _nodes(plan)]
    assert "Sort" not in types and "Incremental Sort" not in types, types
    scans = [
        n
        for n in _nodes(plan)
        if n.get("Index Name", "").startswith("audit_events_auditevent")
        and n["Index Name"].endswith("_pkey")
    ]
    assert scans and all(n["Scan Direction"] == "Backward" for n in scans)
    return plan


def _busy_day(day: datetime.date, rows: int = 20_000) -> None:
    """``rows`` events on ``day`` (server-side), analyzed: plans as on a real day."""
    insert_rows(day, rows)
    with connection.cursor() as cursor:
        cursor.execute(f"ANALYZE audit_events_auditevent_p{day:%Y%m%d}")


def test_admin_day_page_is_a_backward_scan_of_the_primary_key(admin_client, article):
    day = utc_today() - datetime.timedelta(days=1)
    _busy_day(day)
    events = list(AuditEvent.objects.filter(timestamp__date=day))
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(CHANGELIST, day_query(day))
    assert response.status_code == 200
    shown = [e.pk for e in response.context["cl"].result_list]
    assert shown == sorted((e.pk for e in events), reverse=True)[:100]
    (sql,) = _page_queries(ctx.captured_queries)
    plan = _assert_pk_order_no_sort(sql)
    assert _relations(plan) <= {f"audit_events_auditevent_p{day:%Y%m%d}", "django_content_type"}
    # The timestamp column sorts the same way, by the key.
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(CHANGELIST, day_query(day, o="0"))
    assert [e.pk for e in response.context["cl"].result_list] == sorted(e.pk for e in events)[:100]
    (sql,) = _page_queries(ctx.captured_queries)
    assert "Sort" not in [n["Node Type"] for n in _nodes(_plan(sql))]


def test_api_pages_follow_the_primary_key_and_skip_newer_days(staff_client, article):
    days = past_days(3, end=utc_today())
    events = make_events(days, 30, article)
    with CaptureQueriesContext(connection) as ctx:
        results = all_pages(staff_client, EVENTS, {"page_size": 25})
    assert [r["id"] for r in results] == [str(e.pk) for e in sorted(events, key=lambda e: e.pk)][
        ::-1
    ]
    queries = _page_queries(ctx.captured_queries)
    assert len(queries) == 4
    for day in days:
        _busy_day(day, 5_000)
    for sql in queries:
        _assert_pk_order_no_sort(sql)
    # The last page starts in the oldest day: the newer days' tables are pruned.
    last = _relations(_plan(queries[-1]))
    assert f"audit_events_auditevent_p{days[-1]:%Y%m%d}" not in last
    assert f"audit_events_auditevent_p{days[0]:%Y%m%d}" in last


def test_detail_lookups_read_one_day_table(admin_client, staff_client, article):
    days = past_days(3, end=utc_today())
    events = make_events(days, 2, article)
    target = events[2]
    table = f"audit_events_auditevent_p{days[1]:%Y%m%d}"
    for get in (
        lambda: admin_client.get(f"{CHANGELIST}{target.pk}/change/"),
        lambda: staff_client.get(f"{EVENTS}{target.pk}/"),
    ):
        with CaptureQueriesContext(connection) as ctx:
            response = get()
        assert response.status_code == 200
        lookups = [
            q["sql"]
            for q in ctx.captured_queries
            if str(target.pk).replace("-", "") in q["sql"] or str(target.pk) in q["sql"]
        ]
        assert lookups
        for sql in lookups:
            assert _relations(_plan(sql)) <= {table, "django_content_type"}
    # An id that is not an event's (not a UUIDv7) is a 404 without a query on the events.
    assert staff_client.get(f"{EVENTS}{'0' * 8}-0000-4000-8000-{'0' * 12}/").status_code == 404
    # An id of the right shape that no event has: the admin's "does not exist" redirect.
    assert admin_client.get(f"{CHANGELIST}{uuid7_for(target.timestamp)}/change/").status_code == 302


def test_a_reused_id_cannot_break_the_detail_pages(admin_client, staff_client, article):
    """Attack: the same id stored twice (another timestamp) made detail pages answer 500.
    Now the second row cannot exist (CHECK), so the genuine event's pages work."""
    from django.db import IntegrityError, transaction

    (event,) = make_events([utc_today()], 1, article)
    with pytest.raises(IntegrityError), transaction.atomic(), connection.cursor() as cursor:
        cursor.execute(
            "INSERT INTO audit_events_auditevent (id, timestamp, username, url, query_params, "
            "post_data, headers, content_type_id, object_id, content) "
            "SELECT id, timestamp - interval '1 hour', username, url, query_params, post_data, "
            "headers, content_type_id, object_id, content FROM audit_events_auditevent "
            "WHERE id = %s",
            [event.pk],
        )
    assert admin_client.get(f"{CHANGELIST}{event.pk}/change/").status_code == 200
    assert staff_client.get(f"{EVENTS}{event.pk}/").status_code == 200


def test_timeline_merges_live_and_archive_newest_first(article):
    other = Article.objects.create(title="other")
    today = utc_today()
    old_days = past_days(3, end=today - datetime.timedelta(days=200))
    archived = make_events(old_days, 4, article, archived=True)
    live = make_events(past_days(2, end=today), 3, article)
    make_events([today], 5, other)
    expected = sorted([*archived, *live], key=lambda e: e.pk, reverse=True)
    seen, before, pages = [], None, 0
    while True:
        page = audit_events.timeline(article, before=before, limit=5)
        seen += page.events
        pages += 1
        if page.next_before is None:
            break
        before = page.next_before
    assert [e.pk for e in seen] == [e.pk for e in expected]
    assert pages == 4
    kinds = {type(e) for e in seen}
    assert kinds == {AuditEvent, ArchivedAuditEvent}
    assert all(hasattr(e, "archive_timestamp") for e in seen if isinstance(e, ArchivedAuditEvent))


def test_timeline_refuses_bad_arguments(article):
    with pytest.raises(ValueError, match="limit"):
        audit_events.timeline(article, limit=0)
    with pytest.raises(ValueError, match="before"):
        audit_events.timeline(article, before="not-an-id")
    with pytest.raises(ValueError, match="saved"):
        audit_events.timeline(Article(title="unsaved"))
    assert audit_events.timeline(article).events == []


def test_timeline_of_a_busy_object_reads_only_its_newest_days(article):
    """Windows of days, newest first: a full page from today never plans the old days."""
    today = utc_today()
    make_events(past_days(30, end=today - datetime.timedelta(days=1)), 1, article)
    make_events([today], 10, article)
    with CaptureQueriesContext(connection) as ctx:
        page = audit_events.timeline(article, limit=5)
    assert len(page.events) == 5 and page.next_before is not None
    relations = set()
    for query in ctx.captured_queries:
        if "audit_events_" in query["sql"] and "ORDER BY" in query["sql"]:
            relations |= _relations(_plan(query["sql"]))
    old = today - datetime.timedelta(days=20)
    assert f"audit_events_auditevent_p{today:%Y%m%d}" in relations
    assert f"audit_events_auditevent_p{old:%Y%m%d}" not in relations
