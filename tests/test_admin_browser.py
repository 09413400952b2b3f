"""The admin in a real headless Chromium against a live server.

Thousands of events over a month: log in, the list opens on the newest day,
the date drill-down leads to another day, the user-id filter narrows it, and
screenshots are saved under ``artifacts/`` (kept by CI as test artifacts).
Chromium comes from Debian (``make browser``), driven by Playwright.
"""

from __future__ import annotations

import datetime
import re
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.db import connection
from playwright import sync_api
from psycopg import sql

from audit_events.models import get_audit_event_model
from audit_events.partitions import list_partitions, utc_today
from tests.fixtures_events import make_events, past_days
from tests.testapp.models import Article

ARTIFACTS = Path(__file__).resolve().parent.parent / "artifacts"
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
DAYS = 30
PER_DAY = 100


@pytest.fixture
def month_of_events(transactional_db) -> Iterator[dict]:
    """3,000 committed events over 30 days (and the partitions they need, dropped after)."""
    model = get_audit_event_model()
    before = {p.name for p in list_partitions(model)}
    days = past_days(DAYS, end=utc_today())
    article = Article.objects.create(title="browsed")
    auditor = User.objects.create_user("auditor")
    make_events(days, PER_DAY, article)
    make_events(days[-3:], 7, article, user=auditor)
    User.objects.create_superuser("admin", "admin@example.com", "secret-pw")
    yield {"days": days, "auditor": auditor}
    # transactional_db truncates tables afterwards; the partitions made here must go too.
    with connection.cursor() as cursor:
        for name in {p.name for p in list_partitions(model)} - before:
            cursor.execute(
                sql.SQL("DROP TABLE {}").format(sql.Identifier(name)).as_string(cursor.connection)
            )


@pytest.fixture
def page(month_of_events) -> Iterator[object]:
    if not Path(CHROMIUM).exists():
        pytest.fail("Chromium is missing: run `make browser` (apt-get install chromium)")
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        page = browser.new_page(viewport={"width": 1400, "height": 1000})
        page.set_default_timeout(15_000)
        yield page
        browser.close()


def rows(page) -> list[str]:
    return page.locator("#result_list tbody tr").all_inner_texts()


def test_admin_changelist_in_a_real_browser(live_server, month_of_events, page):
    days: list[datetime.date] = month_of_events["days"]
    newest, older = days[-1], days[10]

    page.goto(f"{live_server.url}/admin/login/?next=/admin/audit_events/auditevent/")
    page.fill("#id_username", "admin")
    page.fill("#id_password", "secret-pw")
    page.click("input[type=submit]")

    # The list opens on the newest day: one page of that day's 107 events.
    page.wait_for_selector("#result_list")
    assert f"timestamp__day={newest.day}" in page.url
    assert len(rows(page)) == 100
    assert "107 audit events" in page.inner_text(".paginator")
    page.screenshot(path=ARTIFACTS / "admin-changelist-newest-day.png", full_page=True)

    # Filter by user id with the typed-in filter: only that user's events of the day remain.
    page.fill(
        "form.audit-events-input-filter input[name=user_id]", str(month_of_events["auditor"].pk)
    )
    page.locator("form.audit-events-input-filter input[type=submit]").first.click()
    page.wait_for_url(re.compile(r"user_id="))
    assert f"timestamp__day={newest.day}" in page.url
    assert len(rows(page)) == 7
    assert all("auditor" in row for row in rows(page))
    page.screenshot(path=ARTIFACTS / "admin-changelist-user-filter.png", full_page=True)

    # Drill down through the partition-backed date hierarchy to an older day.
    page.goto(
        f"{live_server.url}/admin/audit_events/auditevent/"
        f"?timestamp__year={older.year}&timestamp__month={older.month}"
    )
    day_link = page.locator("nav.toplinks a", has_text=re.compile(rf"\b{older.day}$")).first
    day_link.click()
    page.wait_for_url(re.compile(rf"timestamp__day={older.day}\b"))
    assert "100 audit events" in page.inner_text(".paginator")
    shown = rows(page)
    assert len(shown) == 100
    assert all(f" {older.day}, {older.year}" in row for row in shown), shown[:3]
    page.screenshot(path=ARTIFACTS / "admin-changelist-drilldown-day.png", full_page=True)
    assert (ARTIFACTS / "admin-changelist-drilldown-day.png").stat().st_size > 10_000
