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

import functools
import gc
import time
from collections.abc import Callable, Iterator
from typing import Any

from django.db import connection
from django.utils import timezone
from psycopg import sql

from audit_events.ids import uuid7
from bench.measure import Result, median, median_ratio, timed
from bench.run import Run

NAME = "write"
CONTENT = {"action": "updated", "fields": ["title", "price"], "count": 3}

_target: list[Any] = []


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


def record_in_request(request: Any, content: dict[str, Any]) -> None:
    """Record one event from a view: through the middleware's context when there is one."""
    context = getattr(request, "audit_context", None)
    if context is not None:
        context.create_event(_target[0], **content)
    else:
        event_api()[1](_target[0], content)


def _interleaved(count: int, variants: list[Callable[[], object]], chunk: int = 50) -> list[float]:
    """Seconds each variant took for ``count`` calls, run in alternating chunks.

    Alternating small chunks spreads the machine's bursts of noise (other
    processes, garbage collection) evenly over the variants being compared.
    """
    totals = [0.0] * len(variants)
    done = 0
    gc.collect()
    while done < count:
        size = min(chunk, count - done)
        for index, work in enumerate(variants):
            start = time.perf_counter()
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
    return [[uuid7(), timezone.now(), *template[2:]] for _ in range(count)]


class _Floors:
    """Raw psycopg INSERT and COPY of ready-made rows, on Django's own connection."""

    def __init__(self, model: Any) -> None:
        fields = model._meta.concrete_fields
        table = sql.Identifier(model._meta.db_table)
        columns = sql.SQL(", ").join([sql.Identifier(f.column) for f in fields])
        self.insert = sql.SQL("INSERT INTO {} ({}) VALUES ({})").format(
            table, columns, sql.SQL(", ").join([sql.Placeholder()] * len(fields))
        )
        self.copy = sql.SQL("COPY {} ({}) FROM STDIN").format(table, columns)
        connection.ensure_connection()
        self.cursor = connection.connection.cursor()

    def insert_next(self, rows: Iterator[list[Any]]) -> None:
        self.cursor.execute(self.insert, next(rows))

    def copy_all(self, rows: list[list[Any]]) -> None:
        with self.cursor.copy(self.copy) as copy:
            for row in rows:
                copy.write_row(row)


def _per_event(run: Run, model: Any, obj: Any) -> list[Result]:
    count = run.size(200, 1000)
    floors = _Floors(model)
    template = _template_row(model, obj)
    name, create_event = event_api()
    api, insert, copy = [], [], []
    for rep in range(run.repeat + 1):
        rows = iter(_rows(template, count))
        copy_rows = _rows(template, count)
        seconds = [
            *_interleaved(
                count,
                [lambda: create_event(obj, CONTENT), lambda rows=rows: floors.insert_next(rows)],
            ),
            timed(lambda rows=copy_rows: floors.copy_all(rows)),
        ]
        if rep:  # the first round warms caches and connections
            for series, value in zip((api, insert, copy), seconds, strict=True):
                series.append(value / count * 1e6)
    return [
        Result(
            NAME,
            f"one event: {name}",
            median(api),
            "µs/event",
            "raw INSERT, same row",
            median(insert),
            median_ratio(api, insert),
            "≤ 1.5x",
            median_ratio(api, insert) <= 1.5,
        ),
        Result(
            NAME,
            "one event: raw INSERT (floor for one row)",
            median(insert),
            "µs/event",
            "COPY, same rows",
            median(copy),
            median_ratio(insert, copy),
        ),
    ]


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
            "≤ 2x",
            ratio <= 2,
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


def _per_request(run: Run) -> list[Result]:
    count = run.size(200, 1000)
    audited, plain = _clients()
    full, middleware_only, bare = [], [], []
    for rep in range(run.repeat + 1):
        seconds = _interleaved(
            count,
            [
                lambda: audited.get("/audited/"),
                lambda: audited.get("/plain/"),
                lambda: plain.get("/plain/"),
            ],
        )
        if rep:
            for series, value in zip((full, middleware_only, bare), seconds, strict=True):
                series.append(value / count * 1e6)
    baseline = "same view, no audit middleware, no event"
    return [
        Result(
            NAME,
            "request: audit middleware + 1 event",
            median(full),
            "µs/request",
            baseline,
            median(bare),
            median_ratio(full, bare),
            note=f"+{median(full) - median(bare):.0f} µs",
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
    obj = get_user_model().objects.create(username="bench-target")
    _target[:] = [obj]
    return [*_per_event(run, model, obj), *_per_request(run), *_bulk(run, model, obj)]
