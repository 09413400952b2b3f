"""Read API (Django REST framework): permissions, cursor pages, filters, bad input."""

from __future__ import annotations

import datetime
import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from rest_framework.test import APIClient

from audit_events.partitions import day_bounds, utc_today
from tests.fixtures_events import make_events, past_days
from tests.test_admin import _plan_relations
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

EVENTS = "/api/audit/events/"
ARCHIVED = "/api/audit/archived-events/"


@pytest.fixture
def article() -> Article:
    return Article.objects.create(title="audited")


@pytest.fixture
def days(article: Article) -> list[datetime.date]:
    """Four days of events about ``article``, 5 a day, ending today."""
    days = past_days(4, end=utc_today())
    make_events(days, 5, article)
    return days


@pytest.fixture
def staff_client() -> APIClient:
    from django.contrib.auth.models import Permission

    staff = User.objects.create_user("staff", is_staff=True)
    staff.user_permissions.add(
        *Permission.objects.filter(codename__in=["view_auditevent", "view_archivedauditevent"])
    )
    client = APIClient()
    client.force_authenticate(staff)
    return client


def all_pages(client: APIClient, url: str, params: dict | None = None) -> list[dict]:
    response = client.get(url, params or {})
    assert response.status_code == 200, response.content
    results = list(response.data["results"])
    while response.data["next"]:
        response = client.get(response.data["next"])
        results += response.data["results"]
    return results


def test_anonymous_is_denied(days):
    response = APIClient().get(EVENTS)
    assert response.status_code in (401, 403)
    assert "results" not in response.data


def test_authenticated_non_staff_user_is_denied(days):
    client = APIClient()
    client.force_authenticate(User.objects.create_user("plain"))
    assert client.get(EVENTS).status_code == 403
    assert client.get(ARCHIVED).status_code == 403


def test_staff_without_the_view_permission_is_denied(days):
    """As in the admin: being staff is not enough to read every event."""
    client = APIClient()
    client.force_authenticate(User.objects.create_user("staff-only", is_staff=True))
    assert client.get(EVENTS).status_code == 403
    assert client.get(ARCHIVED).status_code == 403


def test_staff_may_list_events(staff_client, days):
    response = staff_client.get(EVENTS)
    assert response.status_code == 200
    assert len(response.data["results"]) == 20


@override_settings(AUDIT_REST_PERMISSION_CLASSES=["rest_framework.permissions.IsAuthenticated"])
def test_permission_classes_come_from_the_setting(days):
    client = APIClient()
    client.force_authenticate(User.objects.create_user("plain"))
    assert client.get(EVENTS).status_code == 200
    assert APIClient().get(EVENTS).status_code in (401, 403)


def test_detail_of_an_event(staff_client, article, days):
    listed = staff_client.get(EVENTS).data["results"][0]
    response = staff_client.get(f"{EVENTS}{listed['id']}/")
    assert response.status_code == 200
    assert response.data == listed
    assert listed["content_type"] == "testapp.article"
    assert listed["object_id"] == str(article.pk)


def test_unknown_event_is_404(staff_client, days):
    assert staff_client.get(f"{EVENTS}018f0000-0000-7000-8000-000000000000/").status_code == 404


def test_cursor_pages_are_ordered_newest_first_without_gaps(staff_client, days):
    results = all_pages(staff_client, EVENTS, {"page_size": 3})
    assert len(results) == 20
    assert len({r["id"] for r in results}) == 20
    keys = [(r["timestamp"], r["id"]) for r in results]
    assert keys == sorted(keys, reverse=True)


def test_pages_with_equal_timestamps_are_broken_by_id(staff_client, article):
    moment = day_bounds(utc_today())[0]
    from audit_events.models import AuditEvent

    for _ in range(7):  # one microsecond, seven ids (their random bits differ)
        AuditEvent(content_object=article, timestamp=moment).save()
    results = all_pages(staff_client, EVENTS, {"page_size": 2})
    ids = [r["id"] for r in results]
    assert len(set(ids)) == 7
    assert ids == sorted(ids, reverse=True)


def test_list_queries_do_not_grow_with_page_size(staff_client, days):
    # A first request loads the user's permissions (cached on the user afterwards).
    assert staff_client.get(EVENTS).status_code == 200
    counts = []
    for size in (2, 20):
        with CaptureQueriesContext(connection) as ctx:
            assert staff_client.get(EVENTS, {"page_size": size}).status_code == 200
        # The page's own transaction (a savepoint in the test's) and its statement_timeout.
        bounds = ("SAVEPOINT", "statement_timeout")
        counts.append(sum(not any(b in q["sql"] for b in bounds) for q in ctx.captured_queries))
    assert counts[0] == counts[1] == 1


def test_filter_by_user(staff_client, article, days):
    someone = User.objects.create_user("someone")
    make_events([days[-1]], 3, article, user=someone)
    results = all_pages(staff_client, EVENTS, {"user": someone.pk})
    assert len(results) == 3
    assert {r["user"] for r in results} == {someone.pk}
    assert {r["username"] for r in results} == {"someone"}


@pytest.mark.parametrize("form", ["id", "natural_key"])
def test_filter_by_content_type(staff_client, days, form):
    target = User.objects.create_user("target")
    make_events([days[-1]], 2, target)
    user_type = ContentType.objects.get_for_model(User)
    value = user_type.pk if form == "id" else "auth.User"
    results = all_pages(staff_client, EVENTS, {"content_type": value})
    assert len(results) == 2
    assert {r["content_type"] for r in results} == {"auth.user"}


def test_filter_by_object(staff_client, days):
    other = Article.objects.create(title="other")
    make_events([days[0]], 4, other)
    results = all_pages(
        staff_client, EVENTS, {"content_type": "testapp.article", "object_id": other.pk}
    )
    assert len(results) == 4
    assert {r["object_id"] for r in results} == {str(other.pk)}


def test_filter_by_time_range(staff_client, days):
    start, _ = day_bounds(days[1])
    _, end = day_bounds(days[2])
    results = all_pages(
        staff_client,
        EVENTS,
        {
            "since": start.isoformat().replace("+00:00", "Z"),
            "until": end.isoformat().replace("+00:00", "Z"),
        },
    )
    assert len(results) == 10
    assert all(
        start.isoformat()[:10] <= r["timestamp"][:10] <= days[2].isoformat() for r in results
    )


def test_filter_by_dates_takes_utc_days(staff_client, days):
    results = all_pages(
        staff_client, EVENTS, {"since": days[1].isoformat(), "until": days[2].isoformat()}
    )
    assert len(results) == 5
    assert {r["timestamp"][:10] for r in results} == {days[1].isoformat()}


def test_time_range_prunes_partitions(staff_client, days):
    day = days[1]
    with CaptureQueriesContext(connection) as ctx:
        staff_client.get(
            EVENTS,
            {"since": day.isoformat(), "until": (day + datetime.timedelta(days=1)).isoformat()},
        )
    [sql] = [q["sql"] for q in ctx.captured_queries if "audit_events_auditevent" in q["sql"]]
    assert _plan_relations(sql) <= {f"audit_events_auditevent_p{day:%Y%m%d}", "django_content_type"}


@pytest.mark.parametrize(
    ("params", "parameter"),
    [
        ({"user": "abc"}, "user"),
        ({"content_type": "nope.nothing"}, "content_type"),
        ({"content_type": "999999"}, "content_type"),
        ({"object_id": "1"}, "object_id"),
        ({"since": "yesterday"}, "since"),
        ({"until": "2024-13-45"}, "until"),
        ({"since": "2024-05-02", "until": "2024-05-01"}, "until"),
    ],
)
def test_bad_filter_values_are_400_naming_the_parameter(staff_client, days, params, parameter):
    response = staff_client.get(EVENTS, params)
    assert response.status_code == 400
    assert list(response.data) == [parameter]
    assert response.data[parameter][0]


def test_archived_events_list_and_detail(staff_client, article):
    day = utc_today() - datetime.timedelta(days=400)
    make_events([day], 3, article, archived=True)
    results = all_pages(staff_client, ARCHIVED, {"since": day.isoformat()})
    assert len(results) == 3
    assert all(r["archive_timestamp"] for r in results)
    detail = staff_client.get(f"{ARCHIVED}{results[0]['id']}/")
    assert detail.status_code == 200
    assert detail.data["archive_timestamp"] == results[0]["archive_timestamp"]


def test_library_imports_without_django_rest_framework():
    """DRF is optional: the package, its admin and checks import with DRF hidden."""
    root = Path(__file__).resolve().parent.parent
    code = (
        "import sys\n"
        "class Block:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        "        if name == 'rest_framework' or name.startswith('rest_framework.'):\n"
        "            raise ImportError('hidden for the test')\n"
        "sys.meta_path.insert(0, Block())\n"
        "import django\n"
        "from django.conf import settings\n"
        "import tests.settings as base\n"
        "names = {k: getattr(base, k) for k in dir(base) if k.isupper()}\n"
        "names['INSTALLED_APPS'] = [a for a in base.INSTALLED_APPS if a != 'rest_framework']\n"
        "settings.configure(**names)\n"
        "django.setup()\n"
        "import audit_events, audit_events.admin, audit_events.checks, audit_events.readers\n"
        "try:\n"
        "    import audit_events.rest\n"
        "except ImportError as exc:\n"
        "    print('rest:', exc)\n"
    )
    env = {**os.environ, "PYTHONPATH": str(root), "DJANGO_SETTINGS_MODULE": "tests.settings"}
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=root, env=env, capture_output=True, text=True, check=False
    )
    assert result.returncode == 0, result.stderr
    assert "audit-events[drf]" in result.stdout


def test_nul_in_object_id_is_a_400_naming_the_parameter(staff_client, days):
    from django.contrib.contenttypes.models import ContentType

    content_type = ContentType.objects.get_for_model(Article)
    response = staff_client.get(EVENTS, {"content_type": content_type.pk, "object_id": "a\x00b"})
    assert response.status_code == 400
    assert "object_id" in response.data
