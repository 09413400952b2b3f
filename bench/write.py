"""Scenario "write": the cost of recording events, against raw psycopg on the same connection.

Per event: the public API (``AuditContext().create_event``; until that lands,
the model's ``save()``, which is what it calls) against the same row written
by a raw ``INSERT`` (the floor for one row) and by ``COPY`` (the floor for
many rows). Per request: a view that records one event through the audit
middleware's context, against the same view with the middleware removed and
nothing recorded. In bulk: ``bulk_create_events`` against ``COPY`` of the same
rows. The floors get their rows ready-made (ids, timestamps, JSON adapted);
the API calls build their events themselves, as an application would.
"""

from __future__ import annotations

import contextlib
import functools
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection, transaction
from django.utils import timezone
from psycopg import sql

from audit_events.ids import uuid7_for
from audit_events.partitions import day_bounds, utc_today
from bench.measure import Result, median, median_ratio, timed
from bench.run import Run

NAME = "write"
CONTENT = {"action": "updated", "fields": ["title", "price"], "count": 3}
#: What the request scenarios' audited view records (bench/urls.py).
VIEWED = {"action": "viewed"}


@functools.cache
def event_api() -> tuple[str, Callable[[Any, dict[str, Any]], Any]]:
    """The public call that records one event, and its name for the table.

    The one line to change when the API changes is the ``create_event`` below.
    """
    try:
        from audit_events.context import AuditContext
    except ImportError:
        from audit_events.models import get_audit_event_model

        model = get_audit_event_model()

        def save(obj: Any, content: dict[str, Any]) -> Any:
            event = model(content_object=obj, content=content)
            event.save()
            return event

        return "Model(...).save()", save
    return "AuditContext().create_event", lambda obj, content: AuditContext().create_event(
        obj, **content
    )


#: The username of the object every event is about (created by each scenario).
TARGET_USERNAME = "bench-target"


def record_in_request(request: Any, obj: Any, content: dict[str, Any]) -> None:
    """Record one event from a view: through the middleware's context when there is one."""
    context = getattr(request, "audit_context", None)
    if context is not None:
        context.create_event(obj, **content)
    else:
        event_api()[1](obj, content)


def _interleaved(
    count: int,
    variants: list[Callable[[], object]],
    chunk: int = 50,
    wrap: Callable[[], Any] | None = None,
) -> list[float]:
    """Seconds each variant took for ``count`` calls, run in alternating chunks.

    Alternating small chunks spreads the machine's bursts of noise (other
    processes, garbage collection) evenly over the variants being compared.
    ``wrap`` (e.g. ``transaction.atomic``) is entered around each chunk.
    """
    totals = [0.0] * len(variants)
    done = 0
    gc.collect()
    while done < count:
        size = min(chunk, count - done)
        for index, work in enumerate(variants):
            start = time.perf_counter()
            with wrap() if wrap else contextlib.nullcontext():
                for _ in range(size):
                    work()
            totals[index] += time.perf_counter() - start
        done += size
    return totals


def _template_row(model: Any, obj: Any) -> list[Any]:
    event = model(content_object=obj, content=CONTENT)
    return [
        f.get_db_prep_save(f.pre_save(event, True), connection) for f in model._meta.concrete_fields
    ]


def _rows(template: list[Any], count: int) -> list[list[Any]]:
    """``count`` copies of the template row, each with its own id and timestamp."""
    return [_fresh_row(template) for _ in range(count)]


def _fresh_row(template: list[Any]) -> list[Any]:
    """The template row with an id and timestamp of now (the first two columns)."""
    now = timezone.now()
    return [uuid7_for(now), now, *template[2:]]


def _insert_sql(table: str, fields: Any) -> str:
    """One ``INSERT`` of a row of ``fields`` into ``table`` (values bound by the client)."""
    return (
        sql.SQL("INSERT INTO {} ({}) VALUES ({})")
        .format(
            sql.Identifier(table),
            sql.SQL(", ").join([sql.Identifier(f.column) for f in fields]),
            sql.SQL(", ").join([sql.Placeholder()] * len(fields)),
        )
        .as_string()
    )


class _Floors:
    """The same rows by hand: one unprepared ``INSERT`` through Django's cursor, and ``COPY``.

    ``insert_next`` sends what an application would send without this package:
    one statement, values bound on the client, through ``connection.cursor()``.
    ``insert_unchecked`` does the same into a copy of the table without the id
    CHECK, to show what the CHECK costs.
    """

    def __init__(self, model: Any) -> None:
        fields = model._meta.concrete_fields
        self.table = model._meta.db_table
        self.insert = _insert_sql(self.table, fields)
        self.unchecked = _insert_sql(_UNCHECKED, fields)
        columns = sql.SQL(", ").join([sql.Identifier(f.column) for f in fields])
        self.copy = sql.SQL("COPY {} ({}) FROM STDIN").format(sql.Identifier(self.table), columns)
        connection.ensure_connection()
        self.raw_cursor = connection.connection.cursor()
        self._make_unchecked_table()

    def _make_unchecked_table(self) -> None:
        start, end = day_bounds(utc_today())
        with connection.cursor() as cursor:
            cursor.execute("SELECT to_regclass(%s)", [_UNCHECKED])
            if cursor.fetchone()[0] is not None:
                return
            for statement in (
                "CREATE TABLE {new} (LIKE {table} INCLUDING DEFAULTS) "
                'PARTITION BY RANGE ("timestamp")',
                'ALTER TABLE {new} ADD PRIMARY KEY (id, "timestamp")',
                "CREATE TABLE {day} PARTITION OF {new} FOR VALUES FROM (%s) TO (%s)",
            ):
                cursor.execute(
                    sql.SQL(statement)
                    .format(
                        new=sql.Identifier(_UNCHECKED),
                        table=sql.Identifier(self.table),
                        day=sql.Identifier(f"{_UNCHECKED}_today"),
                    )
                    .as_string(),
                    [start, end] if "%s" in statement else None,
                )

    def insert_next(self, rows: Iterator[list[Any]]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(self.insert, next(rows))

    def insert_unchecked(self, rows: Iterator[list[Any]]) -> None:
        with connection.cursor() as cursor:
            cursor.execute(self.unchecked, next(rows))

    def copy_all(self, rows: list[list[Any]]) -> None:
        with self.raw_cursor.copy(self.copy) as copy:
            for row in rows:
                copy.write_row(row)


_UNCHECKED = "bench_events_without_id_check"


class _ByHand:
    """The floor inside a view: the same row, written with one raw ``INSERT``.

    What a view would do to record the row itself, without this package: read
    who, from where and which URL from the request (``request.user``,
    ``REMOTE_ADDR``, ``build_absolute_uri()``), take an id and a timestamp, and
    send one unprepared ``INSERT`` through Django's cursor. The values that do
    not depend on the request (content type, object id, content) are made
    once. ``ready_made`` also takes the request's values from the first
    request: less than any view can do (a view does not know its request
    beforehand), shown beside it.
    """

    def __init__(self, model: Any, obj: Any, request: Any) -> None:
        fields = model._meta.concrete_fields
        self.insert = _insert_sql(model._meta.db_table, fields)
        event = model(
            content_object=obj,
            content=VIEWED,
            url=request.build_absolute_uri(),
            remote_addr=request.META["REMOTE_ADDR"],
        )
        self.template = [f.get_db_prep_save(f.pre_save(event, True), connection) for f in fields]
        index = {f.attname: i for i, f in enumerate(fields)}
        self.slots = [index[name] for name in ("user_id", "username", "remote_addr", "url")]

    def record(self, request: Any) -> None:
        user = request.user
        row = _fresh_row(self.template)
        who = (user.pk, user.get_username()) if user.is_authenticated else (None, "")
        for slot, value in zip(
            self.slots,
            (*who, request.META.get("REMOTE_ADDR"), request.build_absolute_uri()),
            strict=True,
        ):
            row[slot] = value
        with connection.cursor() as cursor:
            cursor.execute(self.insert, row)

    def record_ready_made(self) -> None:
        with connection.cursor() as cursor:
            cursor.execute(self.insert, _fresh_row(self.template))


_BY_HAND: dict[tuple[type, Any], _ByHand] = {}


def _by_hand(request: Any, obj: Any) -> _ByHand:
    from audit_events.models import get_audit_event_model

    key = (type(obj), obj.pk)
    if key not in _BY_HAND:
        _BY_HAND[key] = _ByHand(get_audit_event_model(), obj, request)
    return _BY_HAND[key]


def record_by_hand(request: Any, obj: Any) -> None:
    """What the floor's view does: the row the audited view's event would be, by hand."""
    _by_hand(request, obj).record(request)


def record_ready_made(request: Any, obj: Any) -> None:
    """The same row with the request's values of the first request (below any floor)."""
    _by_hand(request, obj).record_ready_made()


def _per_event(run: Run, model: Any, obj: Any) -> list[Result]:
    count = run.size(200, 2000)
    floors = _Floors(model)
    template = _template_row(model, obj)
    name, create_event = event_api()
    results = []
    for mode, wrap in (("autocommit", None), ("in a transaction", transaction.atomic)):
        api, insert, unchecked = [], [], []
        for rep in range(run.repeat + 1):
            rows, other = iter(_rows(template, count)), iter(_rows(template, count))
            seconds = _interleaved(
                count,
                [
                    lambda: create_event(obj, CONTENT),
                    lambda rows=rows: floors.insert_next(rows),
                    lambda other=other: floors.insert_unchecked(other),
                ],
                wrap=wrap,
            )
            if rep:  # the first round warms caches and connections
                for series, value in zip((api, insert, unchecked), seconds, strict=True):
                    series.append(value / count * 1e6)
        ratio = median_ratio(api, insert)
        results += [
            Result(
                NAME,
                f"one event, {mode}: {name}",
                median(api),
                "µs/event",
                "raw INSERT, Django cursor, unprepared",
                median(insert),
                ratio,
                "≤ 1.2x",
                ratio <= 1.2,
            ),
            Result(
                NAME,
                f"one event, {mode}: raw INSERT with the id CHECK",
                median(insert),
                "µs/event",
                "same INSERT, table without the CHECK",
                median(unchecked),
                median_ratio(insert, unchecked),
            ),
        ]
    return results


def _bulk(run: Run, model: Any, obj: Any) -> list[Result]:
    from audit_events.bulk import bulk_create_events

    count = run.size(2000, 20000)
    floors = _Floors(model)
    template = _template_row(model, obj)
    bulk, copy = [], []
    for rep in range(run.repeat + 1):
        events = [model(content_object=obj, content=CONTENT) for _ in range(count)]
        rows = _rows(template, count)
        steps = [
            lambda events=events: bulk_create_events(events),
            lambda rows=rows: floors.copy_all(rows),
        ]
        order = [0, 1] if rep % 2 else [1, 0]  # alternate which goes first
        seconds = {index: timed(steps[index]) for index in order}
        if rep:
            bulk.append(seconds[0] / count * 1e6)
            copy.append(seconds[1] / count * 1e6)
    ratio = median_ratio(bulk, copy)
    return [
        Result(
            NAME,
            f"bulk_create_events, {count:,} events",
            median(bulk),
            "µs/event",
            "COPY, same rows",
            median(copy),
            ratio,
            "≤ 1.5x",
            ratio <= 1.5,
        )
    ]


def _clients() -> tuple[Any, Any]:
    """An in-process client with the audit middleware, and one without it."""
    from django.conf import settings
    from django.test import Client, override_settings

    audited = Client()
    audited.get("/plain/")
    with override_settings(MIDDLEWARE=settings.BASE_MIDDLEWARE):
        plain = Client()
        plain.get("/plain/")  # the handler loads its middleware on the first request
    return audited, plain


def _per_request(run: Run, model: Any, obj: Any) -> list[Result]:
    count = run.size(200, 2000)
    audited, plain = _clients()
    floors = _Floors(model)
    template = _template_row(model, obj)
    views = (
        (audited, "/audited/"),
        (plain, "/plain/"),
        (plain, "/by-hand/"),
        (plain, "/ready-made/"),
    )
    for client, path in views:
        status = client.get(path).status_code
        if status != 200:  # a broken view would be timed as a fast one
            raise RuntimeError(f"GET {path} answered {status}, not 200")
    full, middleware_only, bare, by_hand, ready, insert = [], [], [], [], [], []
    for rep in range(run.repeat + 1):
        rows = iter(_rows(template, count))
        seconds = _interleaved(
            count,
            [
                lambda: audited.get("/audited/"),
                lambda: audited.get("/plain/"),
                lambda: plain.get("/plain/"),
                lambda: plain.get("/by-hand/"),
                lambda: plain.get("/ready-made/"),
                lambda rows=rows: floors.insert_next(rows),
            ],
        )
        if rep:
            series = (full, middleware_only, bare, by_hand, ready, insert)
            for values, value in zip(series, seconds, strict=True):
                values.append(value / count * 1e6)
    baseline = "same view (reads one row), no audit middleware"
    extra = [f - b for f, b in zip(full, bare, strict=True)]
    hand_extra = [h - b for h, b in zip(by_hand, bare, strict=True)]
    ready_extra = [r - b for r, b in zip(ready, bare, strict=True)]
    event_ratio = median_ratio(extra, hand_extra)
    return [
        Result(
            NAME,
            "request: audit middleware + 1 event",
            median(full),
            "µs/request",
            baseline,
            median(bare),
            median_ratio(full, bare),
        ),
        Result(
            NAME,
            "request: what the middleware's event adds",
            median(extra),
            "µs/request",
            "what the same row by hand adds (raw INSERT, Django cursor, unprepared, "
            "in the same view, no audit middleware; URL, client IP and user read from "
            "the request)",
            median(hand_extra),
            event_ratio,
            "≤ 1.2x",
            event_ratio <= 1.2,
        ),
        Result(
            NAME,
            "request: what the middleware's event adds",
            median(extra),
            "µs/request",
            "what the same row by hand adds with the request's values ready-made "
            "(not read from the request: below what a view can do)",
            median(ready_extra),
            median_ratio(extra, ready_extra),
        ),
        Result(
            NAME,
            "request: what the same row by hand adds",
            median(hand_extra),
            "µs/request",
            "the same raw INSERT outside a request",
            median(insert),
            median_ratio(hand_extra, insert),
        ),
        Result(
            NAME,
            "request: audit middleware, no event",
            median(middleware_only),
            "µs/request",
            baseline,
            median(bare),
            median_ratio(middleware_only, bare),
        ),
    ]


def run(run: Run) -> list[Result]:
    """Measure the write path in a fresh database."""
    from django.contrib.auth import get_user_model

    from audit_events.models import get_audit_event_model

    run.fresh_database(NAME)
    model = get_audit_event_model()
    obj = get_user_model().objects.create(username=TARGET_USERNAME)
    return [
        *_per_event(run, model, obj),
        *_per_request(run, model, obj),
        *_bulk(run, model, obj),
    ]
