"""Read-only admin of the partitioned event tables: permissions, pruning, queries per page."""

from __future__ import annotations

import datetime
import json
from typing import Any

import pytest
from django.contrib.auth.models import Permission, User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from audit_events.admin import AuditEventAdmin, EstimatedCountPaginator, audit_events_url
from audit_events.admin.paginator import estimate_count
from audit_events.models import AuditEvent
from audit_events.partitions import utc_today
from tests.fixtures_events import make_events, past_days
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

CHANGELIST = "/admin/audit_events/auditevent/"
ARCHIVE_CHANGELIST = "/admin/audit_events/archivedauditevent/"


def day_query(day: datetime.date, **extra: Any) -> dict[str, Any]:
    return {
        "timestamp__year": day.year,
        "timestamp__month": day.month,
        "timestamp__day": day.day,
        **extra,
    }


@pytest.fixture
def article() -> Article:
    return Article.objects.create(title="audited")


@pytest.fixture
def week(article: Article) -> list[datetime.date]:
    """Seven days of events, 20 a day, ending today."""
    days = past_days(7, end=utc_today())
    make_events(days, 20, article)
    return days


def test_nobody_may_add_change_or_delete_events(admin_client, admin_user, week):
    event = AuditEvent.objects.first()
    change_url = reverse("admin:audit_events_auditevent_change", args=[event.pk])
    delete_url = reverse("admin:audit_events_auditevent_delete", args=[event.pk])
    assert admin_client.get(reverse("admin:audit_events_auditevent_add")).status_code == 403
    assert admin_client.post(delete_url, {"post": "yes"}).status_code == 403
    response = admin_client.post(change_url, {"url": "/forged"})
    assert response.status_code == 403
    event.refresh_from_db()
    assert event.url != "/forged"
    assert AuditEvent.objects.count() == 140


def test_superuser_gets_no_bulk_actions(admin_client, week):
    response = admin_client.get(CHANGELIST, day_query(week[-1]))
    assert response.status_code == 200
    assert response.context["action_form"] is None
    assert b'name="action"' not in response.content
    assert b"delete_selected" not in response.content


def test_staff_without_view_permission_is_denied(client, week):
    staff = User.objects.create_user("staff", password="pw", is_staff=True)
    client.force_login(staff)
    assert client.get(CHANGELIST, day_query(week[-1])).status_code == 403


def test_staff_with_view_permission_sees_events_read_only(client, week):
    staff = User.objects.create_user("viewer", password="pw", is_staff=True)
    staff.user_permissions.add(Permission.objects.get(codename="view_auditevent"))
    client.force_login(staff)
    response = client.get(CHANGELIST, day_query(week[-1]))
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 20
    event = AuditEvent.objects.first()
    detail = client.get(reverse("admin:audit_events_auditevent_change", args=[event.pk]))
    assert detail.status_code == 200
    assert b'name="_save"' not in detail.content


def test_changelist_without_filters_opens_on_newest_day(admin_client, week):
    response = admin_client.get(CHANGELIST)
    newest = week[-1]
    assert response.status_code == 302
    assert response["Location"].endswith(
        f"?timestamp__year={newest.year}&timestamp__month={newest.month}"
        f"&timestamp__day={newest.day}"
    )


def test_changelist_skips_quiet_days_when_opening(admin_client, article):
    busy = utc_today() - datetime.timedelta(days=3)
    make_events([busy], 2, article)  # today and the days since have partitions, no events
    response = admin_client.get(CHANGELIST)
    assert response["Location"].endswith(f"&timestamp__day={busy.day}")


def test_changelist_with_object_filter_spans_all_days(admin_client, article, week):
    response = admin_client.get(audit_events_url(article))
    assert response.status_code == 200
    assert response.context["cl"].result_count == 140


def _plan_relations(sql: str) -> set[str]:
    """The tables an (interpolated) query reads, from its EXPLAIN plan."""
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN (FORMAT JSON) " + sql)
        plan = cursor.fetchone()[0]
    relations: set[str] = set()

    def walk(node: dict[str, Any]) -> None:
        if "Relation Name" in node:
            relations.add(node["Relation Name"])
        for child in node.get("Plans", []):
            walk(child)

    walk(plan[0]["Plan"])
    return relations


def _event_queries(captured: list[dict[str, str]]) -> list[str]:
    return [
        q["sql"]
        for q in captured
        if 'FROM "audit_events_auditevent"' in q["sql"] and "EXPLAIN" not in q["sql"]
    ]


def test_day_changelist_reads_only_that_days_partition(admin_client, week):
    day = week[3]
    with CaptureQueriesContext(connection) as ctx:
        response = admin_client.get(CHANGELIST, day_query(day))
    assert response.status_code == 200
    queries = _event_queries(ctx.captured_queries)
    assert queries, "the changelist ran no query on the event table"
    expected = {f"audit_events_auditevent_p{day:%Y%m%d}", "django_content_type"}
    for sql in queries:
        assert _plan_relations(sql) <= expected
        assert f"audit_events_auditevent_p{day:%Y%m%d}" in _plan_relations(sql)


def test_queries_per_page_do_not_grow_with_rows(admin_client, article):
    """A page of 3 rows and a page of 100 rows cost the same, small number of queries."""
    today = utc_today()
    quiet, busy = today - datetime.timedelta(days=2), today - datetime.timedelta(days=1)
    make_events([quiet], 3, article)
    make_events([busy], 300, article)
    counts = []
    for day in (quiet, busy):
        with CaptureQueriesContext(connection) as ctx:
            response = admin_client.get(CHANGELIST, day_query(day))
        assert response.status_code == 200
        # The test's transaction turns the page's own into a savepoint.
        counts.append(sum("SAVEPOINT" not in q["sql"] for q in ctx.captured_queries))
    assert len(response.context["cl"].result_list) == 100
    assert counts[0] == counts[1]
    # session, user, statement_timeout, content types (filter), bounded count,
    # partitions, page.
    assert counts[1] <= 7


def test_changelist_never_counts_a_whole_table(admin_client, week):
    with CaptureQueriesContext(connection) as ctx:
        admin_client.get(audit_events_url(Article.objects.get()))
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert counts
    assert all("LIMIT" in sql for sql in counts)


def test_paginator_counts_exactly_up_to_its_limit(week):
    queryset = AuditEvent.objects.order_by("-timestamp")
    assert EstimatedCountPaginator(queryset, 10).count == 140


def test_paginator_uses_the_planners_estimate_above_its_limit(week):
    class Small(EstimatedCountPaginator):
        exact_count_limit = 50

    with connection.cursor() as cursor:
        cursor.execute("ANALYZE audit_events_auditevent")
    queryset = AuditEvent.objects.order_by("-timestamp")
    count = Small(queryset, 10).count
    assert count == max(estimate_count(queryset), 51)
    assert count > 50


def test_drilldown_lists_days_from_the_partition_catalog(admin_client, week):
    month = week[-1]
    response = admin_client.get(
        CHANGELIST, {"timestamp__year": month.year, "timestamp__month": month.month}
    )
    drilldown = response.context["cl"].day_drilldown
    linked = [choice["link"] for choice in drilldown.choices]
    expected_days = [d for d in week if (d.year, d.month) == (month.year, month.month)]
    assert len(linked) == len(expected_days)
    for day, link in zip(expected_days, linked, strict=True):
        assert f"timestamp__day={day.day}" in link


def test_drilldown_leaves_out_future_partitions(admin_client, week):
    response = admin_client.get(audit_events_url(Article.objects.get()))
    days = response.context["cl"].day_drilldown.days
    assert max(days) == utc_today()


def test_user_id_filter(admin_client, article, week):
    someone = User.objects.create_user("someone")
    make_events([week[-1]], 4, article, user=someone)
    response = admin_client.get(CHANGELIST, {"user_id": someone.pk})
    assert response.status_code == 200
    assert {e.user_id for e in response.context["cl"].result_list} == {someone.pk}
    assert response.context["cl"].result_count == 4
    assert b"someone" in response.content


def test_invalid_user_id_is_refused(admin_client, week):
    response = admin_client.get(CHANGELIST, {"user_id": "not-a-number"})
    assert response.status_code == 302
    assert response["Location"].endswith("?e=1")


def test_content_type_filter(admin_client, article, week):
    other = User.objects.create_user("target")
    make_events([week[-1]], 2, other)
    user_type = ContentType.objects.get_for_model(User)
    response = admin_client.get(
        CHANGELIST, day_query(week[-1], content_type__id__exact=user_type.pk)
    )
    assert response.context["cl"].result_count == 2


def test_object_link_mixin_links_an_object_to_its_events(admin_client, article, week):
    other = Article.objects.create(title="other")
    make_events([week[-1]], 3, other)
    page = admin_client.get(reverse("admin:testapp_article_change", args=[other.pk]))
    url = audit_events_url(other)
    assert url.replace("&", "&amp;").encode() in page.content
    events = admin_client.get(url)
    assert events.context["cl"].result_count == 3
    assert {e.object_id for e in events.context["cl"].result_list} == {str(other.pk)}


def test_rows_show_user_and_object_without_loading_them(admin_client, article, week):
    user = User.objects.create_user("renamed")
    make_events([week[-1]], 1, article, user=user)
    user_id = user.pk
    user.delete()  # the snapshot remains, and no query looks the user up
    response = admin_client.get(CHANGELIST, day_query(week[-1], user_id=user_id))
    html = response.content.decode()
    assert "renamed" in html
    assert f"object_id={article.pk}" in html


def test_detail_shows_stored_values_escaped_and_masked(admin_client, article):
    [event] = make_events(
        [utc_today()], 1, article, post_data={"password": "********", "note": "<script>x</script>"}
    )
    response = admin_client.get(reverse("admin:audit_events_auditevent_change", args=[event.pk]))
    html = response.content.decode()
    assert "********" in html
    assert "<script>x</script>" not in html
    assert "&lt;script&gt;x&lt;/script&gt;" in html
    assert json.dumps(f"testapp.article #{article.pk}")[1:-1] in html


def test_archive_admin_lists_archived_events_read_only(admin_client, article):
    day = utc_today() - datetime.timedelta(days=200)
    make_events([day], 5, article, archived=True)
    response = admin_client.get(ARCHIVE_CHANGELIST)
    assert response.status_code == 302
    response = admin_client.get(response["Location"])
    assert response.context["cl"].result_count == 5
    assert all(e.archive_timestamp is not None for e in response.context["cl"].result_list)
    assert admin_client.get(reverse("admin:audit_events_archivedauditevent_add")).status_code == 403


def test_archived_day_admin_is_read_only(admin_client, article):
    make_events([utc_today() - datetime.timedelta(days=300)], 1, article, archived=True)
    response = admin_client.get(reverse("admin:audit_events_archivedday_changelist"))
    assert response.status_code == 200
    assert b"delete_selected" not in response.content
    assert admin_client.get(reverse("admin:audit_events_archivedday_add")).status_code == 403


def test_model_admin_permissions_are_false_for_superusers(rf, admin_user):
    from django.contrib.admin import site

    request = rf.get("/")
    request.user = admin_user
    model_admin = site._registry[AuditEvent]
    assert isinstance(model_admin, AuditEventAdmin)
    assert not model_admin.has_add_permission(request)
    assert not model_admin.has_change_permission(request)
    assert not model_admin.has_delete_permission(request)
    assert model_admin.has_view_permission(request)
    assert model_admin.get_actions(request) == {}
