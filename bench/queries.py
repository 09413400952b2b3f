"""Scenario "queries": the two everyday reads, with years of partitions, against one plain table.

"Events of this object in the last 7 days" and "events of this user today",
each on the live table (~100 partitions) and on the archive table (~1,000
partitions), against the same rows in one unpartitioned table with the same
indexes. Time bounds are values computed in Python and sent as literals (the
Django/psycopg default, client-side binding), so the planner prunes at plan
time; the plan's scanned relations are counted to show it. Planning and
execution times come from ``EXPLAIN (ANALYZE, FORMAT JSON)``.

A prepared statement may switch to a generic plan, which cannot prune at plan
time and locks every partition at each execution; the last lines measure that
(``plan_cache_mode``, see docs/performance.md).
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Iterator
from typing import Any

from django.db import connection
from psycopg import sql

from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.partitions import day_bounds, utc_today
from bench import catalog, data
from bench.measure import Result, median, median_ratio, timed
from bench.run import Run

NAME = "queries"

#: name -> (condition, days in the window ending with the window's last day)
QUERIES = {
    "object, last 7 days": ("content_type_id = %s AND object_id = %s", 7),
    "user, today": ("user_id = %s", 1),
}


def _select(table: str, condition: str) -> sql.Composed:
    return sql.SQL(
        "SELECT * FROM {} WHERE {} AND timestamp >= %s AND timestamp < %s ORDER BY timestamp DESC"
    ).format(sql.Identifier(table), sql.SQL(condition))


def _params(query: str, last_day: datetime.date) -> list[Any]:
    condition, days = QUERIES[query]
    lower = day_bounds(last_day - datetime.timedelta(days=days - 1))[0]
    upper = day_bounds(last_day)[1]
    keys = [data.content_type_id(), "7"] if "object_id" in condition else [7]
    return [*keys, lower, upper]


def _relations(plan: dict[str, Any]) -> Iterator[str]:
    if "Relation Name" in plan:
        yield plan["Relation Name"]
    for child in plan.get("Plans", []):
        yield from _relations(child)


def _explain(statement: sql.Composed, params: list[Any]) -> tuple[float, float, int]:
    """(planning ms, execution ms, relations scanned) of one EXPLAIN ANALYZE."""
    explain = sql.SQL("EXPLAIN (ANALYZE, FORMAT JSON) ") + statement
    with connection.cursor() as cursor:
        cursor.execute(explain.as_string(connection.connection), params)
        raw = cursor.fetchone()[0]
    [result] = json.loads(raw) if isinstance(raw, str) else raw
    return (result["Planning Time"], result["Execution Time"], len(set(_relations(result["Plan"]))))


def _measure(run: Run, table: str, query: str, last_day: datetime.date) -> dict[str, list[float]]:
    statement, params = _select(table, QUERIES[query][0]), _params(query, last_day)
    series: dict[str, list[float]] = {"plan": [], "exec": [], "relations": []}
    _explain(statement, params)  # the first planning loads the partitions' relcache entries
    for _ in range(max(run.repeat, 5)):
        for key, value in zip(series, _explain(statement, params), strict=True):
            series[key].append(value)
    return series


def _compare(
    run: Run, model: Any, count: int, query: str, last_day: datetime.date, target: bool
) -> list[Result]:
    ours = _measure(run, model._meta.db_table, query, last_day)
    plain = _measure(run, catalog.PLAIN_TABLE, query, last_day)
    label = f"{query}, {model._meta.verbose_name} ({count:,} partitions)"
    plan_ms = median(ours["plan"])
    relations = int(median(ours["relations"]))
    expected = QUERIES[query][1]
    return [
        Result(
            NAME,
            f"{label}: planning",
            plan_ms,
            "ms",
            "plain table: planning",
            median(plain["plan"]),
            median_ratio(ours["plan"], plain["plan"]),
            "< 1 ms" if target else "",
            plan_ms < 1 if target else None,
        ),
        Result(
            NAME,
            f"{label}: execution",
            median(ours["exec"]),
            "ms",
            "plain table: execution",
            median(plain["exec"]),
            median_ratio(ours["exec"], plain["exec"]),
        ),
        Result(
            NAME,
            f"{label}: partitions in plan",
            relations,
            "",
            "expected (days in window)",
            expected,
            target=f"= {expected}",
            met=relations == expected,
        ),
    ]


def _generic_vs_custom(run: Run, table: str, last_day: datetime.date) -> list[Result]:
    """Wall time of EXECUTE of a prepared statement, forced generic vs forced custom plans."""
    condition = QUERIES["object, last 7 days"][0].replace("%s", "$1", 1).replace("%s", "$2", 1)
    prepare = sql.SQL(
        "PREPARE bench_q AS SELECT * FROM {} WHERE {} AND timestamp >= $3 AND timestamp < $4"
    ).format(sql.Identifier(table), sql.SQL(condition))
    params = _params("object, last 7 days", last_day)
    connection.ensure_connection()
    cursor = connection.connection.cursor()
    cursor.execute(prepare)
    series: dict[str, list[float]] = {"force_generic_plan": [], "force_custom_plan": []}
    execute = "EXECUTE bench_q(%s, %s, %s, %s)"
    for rep in range(max(run.repeat, 5) + 1):
        for mode, values in series.items():
            cursor.execute("SELECT set_config('plan_cache_mode', %s, false)", [mode])
            seconds = timed(lambda: cursor.execute(execute, params))
            if rep:
                values.append(seconds * 1000)
    cursor.execute("DEALLOCATE bench_q")
    cursor.execute("RESET plan_cache_mode")
    generic, custom = series["force_generic_plan"], series["force_custom_plan"]
    return [
        Result(
            NAME,
            f"prepared statement on {table}, plan_cache_mode=force_generic_plan",
            median(generic),
            "ms/execution",
            "force_custom_plan (pruned at plan time)",
            median(custom),
            median_ratio(generic, custom),
        )
    ]


def run(run: Run) -> list[Result]:
    """Time both queries on both tables and on the plain table."""
    shared = catalog.ensure(run)
    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    today = utc_today()
    live_count = (today - shared.live_first).days + 1 + _premade(live, today)
    archive_count = (shared.archive_last - shared.archive_first).days + 1
    results = []
    for query in QUERIES:
        results += _compare(run, live, live_count, query, today, target=False)
        results += _compare(run, archive, archive_count, query, shared.archive_middle, target=True)
    return results + _generic_vs_custom(run, archive._meta.db_table, shared.archive_middle)


def _premade(model: Any, today: datetime.date) -> int:
    from audit_events.partitions import list_partitions

    return sum(1 for p in list_partitions(model) if p.day > today)
