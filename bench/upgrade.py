"""Scenario "upgrade": django-audit-events' rows into ours, against one INSERT ... SELECT.

The original's tables are made by its own migrations' SQL (tests/original/) and
filled with N rows over 90 days (1M in a full run), half of them with a user.
``audit_events.upgrade.upgrade`` (what ``manage.py import_django_audit_events``
runs: one transaction per day, usernames joined from the user table, every
original id recorded in the legacy-id map, progress rows) is timed against the
floor: a single server-side ``INSERT ... SELECT`` of the same rows into the same
live table, with the same id expression and column conversions, nothing else.
Both find the day partitions already made; our tables are emptied between runs.
"""

from __future__ import annotations

import datetime
import re
from pathlib import Path

from django.db import connection
from psycopg import sql

from audit_events.models import get_audit_event_model
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.upgrade import LEGACY_TABLE, PROGRESS_TABLE, new_id_sql, upgrade
from bench import data
from bench.measure import Result, median, median_ratio, timed
from bench.run import Run

NAME = "upgrade"
DAYS = 90
SCHEMA = (
    Path(__file__).resolve().parent.parent
    / "tests"
    / "original"
    / ("django_audit_events_0_3_7.sql")
)
SOURCE = "django_audit_events_auditevent"


def _make_source(rows: int, first: datetime.date) -> None:
    chunks = re.split(r"^-- migration \S+$", SCHEMA.read_text(), flags=re.MULTILINE)[1:]
    start = day_bounds(first)[0]
    step = datetime.timedelta(days=DAYS) / rows
    with connection.cursor() as cursor:
        for chunk in chunks:
            cursor.execute(chunk)
        cursor.execute(
            "INSERT INTO auth_user (password, is_superuser, username, first_name, last_name, "
            "email, is_staff, is_active, date_joined) SELECT '', false, 'user' || g, '', '', '', "
            "false, true, now() FROM generate_series(1, 100) AS g"
        )
        cursor.execute(
            f'INSERT INTO "{SOURCE}" (uuid, timestamp, remote_addr, url, query_params, '
            "post_data, headers, object_id, content, content_type_id, user_id) "
            "SELECT gen_random_uuid(), %s + g * %s, '10.0.0.1', '/shop/order/' || g, '{}', '{}', "
            "'{}', g %% 1000, jsonb_build_object('action', 'update', 'n', g), %s, "
            "CASE WHEN g %% 2 = 0 THEN (SELECT min(id) FROM auth_user) + g %% 100 END "
            "FROM generate_series(0, %s - 1) AS g",
            [start, step, data.content_type_id(), rows],
        )
        cursor.execute(f'ANALYZE "{SOURCE}"')


def _plain_insert_select() -> None:
    """The floor: every row in one statement, same id and conversions, nothing else."""
    statement = sql.SQL(
        "INSERT INTO {target} (id, timestamp, user_id, username, remote_addr, url, query_params, "
        "post_data, headers, content_type_id, object_id, content) "
        "SELECT {new_id}, s.timestamp, s.user_id, '', s.remote_addr, coalesce(s.url, ''), "
        "coalesce(s.query_params, '{{}}'), coalesce(s.post_data, '{{}}'), "
        "coalesce(s.headers, '{{}}'), s.content_type_id, s.object_id::text, s.content "
        "FROM {source} AS s"
    ).format(
        target=sql.Identifier(get_audit_event_model()._meta.db_table),
        new_id=new_id_sql(sql.SQL("s.timestamp")),
        source=sql.Identifier(SOURCE),
    )
    with connection.cursor() as cursor:
        cursor.execute(statement.as_string())


def _empty_ours() -> None:
    # TRUNCATE keeps the partitions; the append-only trigger is for UPDATE/DELETE only.
    tables = [get_audit_event_model()._meta.db_table, LEGACY_TABLE, PROGRESS_TABLE]
    with connection.cursor() as cursor:
        for table in tables:
            cursor.execute(
                sql.SQL("TRUNCATE {}").format(sql.Identifier(table)).as_string()
                if table in connection.introspection.table_names()
                else "SELECT 1"
            )
        cursor.execute("CHECKPOINT")


def run(run: Run) -> list[Result]:
    """Time the upgrade of N original rows against the INSERT ... SELECT floor."""
    rows = run.size(20_000, 1_000_000)
    run.fresh_database(NAME)
    first = utc_today() - datetime.timedelta(days=DAYS)
    create_day_partitions(get_audit_event_model(), first, utc_today())
    _make_source(rows, first)
    ours: list[float] = []
    floor: list[float] = []
    for _ in range(run.repeat):
        _empty_ours()
        floor.append(timed(_plain_insert_select))
        _empty_ours()
        ours.append(timed(upgrade))
    ratio = median_ratio(ours, floor)
    return [
        Result(
            NAME,
            f"import_django_audit_events, {rows:,} rows over {DAYS} days",
            rows / median(ours),
            "rows/s",
            "one INSERT … SELECT, same rows",
            rows / median(floor),
            ratio,
            "≤ 2x",
            ratio <= 2,
        )
    ]
