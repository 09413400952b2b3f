"""Scenario "reads": the pages people open, at a small and a huge day, and one object's history.

A day of 10,000 events and a day of millions (5,000,000 in a full run, 200,000
in a quick one, or ``AUDIT_BENCH_BIG_DAY`` events), each page
requested through Django's test client as a logged-in superuser, as a browser
or an API client would: the admin's day page and its next page, the REST API's
first page of the day and the next one (its cursor). Flat means the big day's
page costs about what the small day's does (target ≤ 2x). Pages are in
primary-key order (an id holds its timestamp), so each is a short backward
scan of one day's primary key.

``audit_events.timeline(obj)`` is timed on the shared catalog database (about
1,100 days of partitions, live and archive) against the same events read from
one unpartitioned table with the same indexes.
"""

from __future__ import annotations

import datetime
import os
from typing import Any

from django.db import connection
from psycopg import sql

from audit_events.models import get_audit_event_model
from audit_events.partitions import utc_today
from bench import catalog, data
from bench.measure import Result, median, median_ratio, timed
from bench.run import Run

NAME = "reads"
ADMIN = "/admin/audit_events/auditevent/"
API = "/api/audit/events/"


def _client() -> Any:
    from django.contrib.auth import get_user_model
    from django.test import Client

    user = get_user_model().objects.create_superuser("bench-admin", "a@example.com", "x")
    client = Client()
    client.force_login(user)
    return client


def _pages(client: Any, day: datetime.date) -> dict[str, Any]:
    """The four page requests of ``day``, as callables returning the response."""
    admin_params = {
        "timestamp__year": day.year,
        "timestamp__month": day.month,
        "timestamp__day": day.day,
    }
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
    api_params = {
        "since": start.isoformat(),
        "until": (start + datetime.timedelta(days=1)).isoformat(),
        "page_size": 100,
    }
    first = client.get(API, api_params)
    assert first.status_code == 200, first.content[:200]
    next_url = first.json()["next"]
    return {
        "admin day page": lambda: client.get(ADMIN, admin_params),
        "admin next page": lambda: client.get(ADMIN, {**admin_params, "p": 2}),
        "REST first page of the day": lambda: client.get(API, api_params),
        "REST next page": lambda: client.get(next_url),
    }


def _day_pages(run: Run) -> list[Result]:
    run.fresh_database(NAME)
    model = get_audit_event_model()
    today = utc_today()
    small_day, big_day = today - datetime.timedelta(days=2), today - datetime.timedelta(days=1)
    big = int(os.environ.get("AUDIT_BENCH_BIG_DAY") or run.size(200_000, 5_000_000))
    small = 10_000
    data.fill_day(model, small_day, small)
    data.fill_day(model, big_day, big)
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("ANALYZE {}").format(sql.Identifier(model._meta.db_table)))
    client = _client()
    pages = {small_day: _pages(client, small_day), big_day: _pages(client, big_day)}
    results = []
    for page in pages[small_day]:
        series: dict[datetime.date, list[float]] = {small_day: [], big_day: []}
        for rep in range(run.repeat * 2 + 1):
            for day in (small_day, big_day) if rep % 2 else (big_day, small_day):
                response = None

                def get(day: datetime.date = day, page: str = page) -> None:
                    nonlocal response
                    response = pages[day][page]()

                seconds = timed(get)
                assert response is not None and response.status_code == 200
                if rep:
                    series[day].append(seconds * 1e3)
        ratio = median_ratio(series[big_day], series[small_day])
        results.append(
            Result(
                NAME,
                f"{page}, day of {big:,} events",
                median(series[big_day]),
                "ms",
                f"same page, day of {small:,} events",
                median(series[small_day]),
                ratio,
                "≤ 2x",
                ratio <= 2,
            )
        )
    return results


def _timeline(run: Run) -> list[Result]:
    from django.contrib.auth import get_user_model

    import audit_events

    shared = catalog.ensure(run)
    days = (utc_today() - shared.archive_first).days + 1
    obj = get_user_model()(pk=7)  # the generated events are about objects "0".."49"
    plain = sql.SQL(
        "SELECT * FROM {} WHERE content_type_id = %s AND object_id = %s "
        "ORDER BY timestamp DESC, id DESC LIMIT %s"
    ).format(sql.Identifier(catalog.PLAIN_TABLE))
    limit = run.size(5, 100)
    params = [data.content_type_id(), "7", limit + 1]

    def floor() -> None:
        with connection.cursor() as cursor:
            cursor.execute(plain.as_string(), params)
            cursor.fetchall()

    first = audit_events.timeline(obj, limit=limit)
    assert first.next_before is not None
    ours, baseline, later = [], [], []
    for rep in range(run.repeat * 2 + 1):
        seconds = [
            timed(lambda: audit_events.timeline(obj, limit=limit)),
            timed(floor),
            timed(lambda: audit_events.timeline(obj, before=first.next_before, limit=limit)),
        ]
        if rep:
            ours.append(seconds[0] * 1e3)
            baseline.append(seconds[1] * 1e3)
            later.append(seconds[2] * 1e3)
    return [
        Result(
            NAME,
            f"timeline(obj), first page of {limit}, {days:,} days (live + archive)",
            median(ours),
            "ms",
            f"same {limit} events from one plain table, same indexes",
            median(baseline),
            median_ratio(ours, baseline),
        ),
        Result(
            NAME,
            "timeline(obj), next page (before=...)",
            median(later),
            "ms",
            f"same {limit} events from one plain table, same indexes",
            median(baseline),
            median_ratio(later, baseline),
        ),
    ]


def run(run: Run) -> list[Result]:
    """Day pages at two day sizes, then an object's timeline over the catalog's days."""
    return [*_day_pages(run), *_timeline(run)]
