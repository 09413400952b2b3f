"""The shipped SQL gives the same answer in any session (issue 14 item 1).

Each test sets the session as a DBA might have it (another DateStyle, a time
zone whose abbreviation means something else when read back, an empty or a
hostile search_path) and checks bounds, days and the plan's statements.
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from psycopg import errors, sql

D = datetime.date

HOSTILE_SESSIONS = [
    ("Postgres, MDY", "Asia/Shanghai"),  # 'CST' reads back as US Central
    ("SQL, DMY", "Asia/Kolkata"),  # 'IST' reads back as Israel
    ("German", "America/St_Johns"),
    ("ISO, DMY", "Pacific/Chatham"),
]


@pytest.fixture
def tables(sql_db: psycopg.Connection) -> psycopg.Connection:
    """Live days 2025-01-01..05 with a few rows, an empty archive, the ledger."""
    sql_db.execute(
        'CREATE TABLE ev (id uuid NOT NULL, "timestamp" timestamptz NOT NULL, '
        'PRIMARY KEY (id, "timestamp")) PARTITION BY RANGE ("timestamp")'
    )
    sql_db.execute('CREATE TABLE ev_archive (LIKE ev) PARTITION BY RANGE ("timestamp")')
    sql_db.execute(
        "CREATE TABLE audit_events_archivedday (id serial, archive_table text, day date, "
        "archived_at timestamptz, row_count bigint, digest text, UNIQUE (archive_table, day))"
    )
    sql_db.execute("SELECT audit_events_create_day_partitions('ev', '2025-01-01', '2025-01-05')")
    sql_db.execute(
        "INSERT INTO ev SELECT gen_random_uuid(), '2025-01-01'::timestamptz + g * interval '1h' "
        "FROM generate_series(0, 95) AS g"
    )
    return sql_db


def _status(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT table_name, day, extract(epoch FROM lower_bound), state "
        "FROM public.audit_events_partition_status('public.ev', 'public.ev_archive')"
    ).fetchall()


def _plan(conn: psycopg.Connection, archive_before: str = "2025-01-03") -> list[tuple]:
    return conn.execute(
        "SELECT action, table_name, day, detail, statements FROM "
        "public.audit_events_plan_maintenance('public.ev', 'public.ev_archive', "
        "%s::date, '2025-01-05'::date, '2025-01-07'::date) ORDER BY step",
        [archive_before],
    ).fetchall()


def _run(conn: psycopg.Connection, archive_before: str = "2025-01-03") -> None:
    for row in _plan(conn, archive_before):
        for statement in row[4]:
            conn.execute(statement)


@pytest.mark.parametrize(("datestyle", "timezone"), HOSTILE_SESSIONS)
def test_bounds_days_and_plan_are_the_same_in_any_datestyle_and_time_zone(
    tables, datestyle, timezone
):
    expected_status, expected_plan = _status(tables), _plan(tables)
    tables.execute(sql.SQL("SET DateStyle = {}").format(sql.Literal(datestyle)))
    tables.execute(sql.SQL("SET TimeZone = {}").format(sql.Literal(timezone)))
    tables.execute("SET IntervalStyle = 'sql_standard'")
    assert _status(tables) == expected_status
    assert _plan(tables) == expected_plan
    assert [r[0] for r in expected_plan][:2] == ["create", "create"]
    assert ("archive", "ev_p20250101", D(2025, 1, 1)) in [r[:3] for r in expected_plan]
    bounds = tables.execute(
        "SELECT extract(epoch FROM lower_bound)::bigint, extract(epoch FROM upper_bound)::bigint "
        "FROM audit_events_check_bounds('ev_p20250103')"
    ).fetchone()
    start = datetime.datetime(2025, 1, 3, tzinfo=datetime.UTC).timestamp()
    assert bounds == (start, start + 86400)


@pytest.mark.parametrize(("datestyle", "timezone"), HOSTILE_SESSIONS)
def test_statements_run_in_a_hostile_session_archive_and_record_each_day(
    tables, datestyle, timezone
):
    tables.execute(sql.SQL("SET DateStyle = {}").format(sql.Literal(datestyle)))
    tables.execute(sql.SQL("SET TimeZone = {}").format(sql.Literal(timezone)))
    _run(tables)
    tables.execute("RESET ALL")
    states = {(t, d, s) for t, d, _, s in _status(tables)}
    assert ("ev_p20250101", D(2025, 1, 1), "archived") in states
    assert ("ev_p20250102", D(2025, 1, 2), "archived") in states
    assert ("ev_p20250107", D(2025, 1, 7), "live") in states
    assert tables.execute("SELECT day FROM audit_events_archivedday ORDER BY day").fetchall() == [
        (D(2025, 1, 1),),
        (D(2025, 1, 2),),
    ]
    assert _plan(tables) == []  # the next run has nothing left to do


def test_days_made_in_a_hostile_session_have_utc_bounds(sql_db):
    sql_db.execute(
        'CREATE TABLE ev (id int, "timestamp" timestamptz) PARTITION BY RANGE ("timestamp")'
    )
    sql_db.execute("SET DateStyle = 'Postgres, MDY'")
    sql_db.execute("SET TimeZone = 'Asia/Shanghai'")
    sql_db.execute("SELECT audit_events_create_day_partitions('ev', '2026-09-01', '2026-09-02')")
    sql_db.execute("RESET ALL")
    rows = sql_db.execute(
        "SELECT pg_get_expr(relpartbound, oid) FROM pg_class "
        "WHERE relname LIKE 'ev_p2026090%' ORDER BY relname"
    ).fetchall()
    assert rows == [
        ("FOR VALUES FROM ('2026-09-01 00:00:00+00') TO ('2026-09-02 00:00:00+00')",),
        ("FOR VALUES FROM ('2026-09-02 00:00:00+00') TO ('2026-09-03 00:00:00+00')",),
    ]


@pytest.fixture
def hostile_schema(tables: psycopg.Connection) -> Iterator[psycopg.Connection]:
    """A schema whose functions shadow ours and pg_catalog's (by better matches)."""
    tables.execute("CREATE SCHEMA dba_tools")
    tables.execute(
        "CREATE FUNCTION dba_tools.audit_events_partition_bounds(regclass, "
        "OUT lower_bound timestamptz, OUT upper_bound timestamptz) LANGUAGE sql "
        "AS $$ SELECT '1990-01-01'::timestamptz, '1990-01-02'::timestamptz $$"
    )
    tables.execute(
        "CREATE FUNCTION dba_tools.to_regclass(text) RETURNS regclass LANGUAGE sql "
        "AS $$ SELECT NULL::regclass $$"
    )
    tables.execute(
        "CREATE FUNCTION dba_tools.format(text, regclass) RETURNS text LANGUAGE sql "
        "AS $$ SELECT 'SELECT 1' $$"
    )
    # Overloads in the schema of our own functions that match better than what we call.
    tables.execute(
        "CREATE FUNCTION public.audit_events_partition_name(name, date) RETURNS text "
        "LANGUAGE sql AS $$ SELECT 'forged' $$"
    )
    tables.execute(
        "CREATE FUNCTION public.left(name, integer) RETURNS text LANGUAGE sql "
        "AS $$ SELECT 'forged' $$"
    )
    yield tables
    tables.execute("RESET search_path")


@pytest.mark.parametrize(
    "search_path", ["''", "dba_tools", "dba_tools, pg_catalog, public", "pg_temp, dba_tools"]
)
def test_functions_ignore_an_empty_or_hostile_search_path(hostile_schema, search_path):
    expected_status, expected_plan = _status(hostile_schema), _plan(hostile_schema)
    hostile_schema.execute(f"SET search_path = {search_path}")
    assert _status(hostile_schema) == expected_status
    assert _plan(hostile_schema) == expected_plan
    _run(hostile_schema)  # the statements name every table with its schema
    states = {(t, s) for t, _, _, s in _status(hostile_schema)}
    assert {("ev_p20250101", "archived"), ("ev_p20250107", "live")} <= states
    count = hostile_schema.execute("SELECT count(*) FROM public.audit_events_archivedday")
    assert count.fetchone() == (2,)


def test_every_shipped_function_pins_its_search_path(sql_db):
    from audit_events.guard import GUARD_FILES
    from audit_events.sqlfiles import read_sql
    from audit_events.tamper import DIGEST_FILES

    for name in (*GUARD_FILES, *DIGEST_FILES):
        sql_db.execute(read_sql(name))
    rows = sql_db.execute(
        "SELECT p.proname, p.proconfig FROM pg_proc AS p "
        "WHERE p.proname LIKE 'audit\\_events\\_%' AND p.prokind = 'f' ORDER BY 1"
    ).fetchall()
    assert len(rows) >= 13
    for name, config in rows:
        paths = [c for c in config or [] if c.startswith("search_path=")]
        assert paths, name
        assert paths[0].startswith("search_path=pg_catalog,"), (name, paths)
        assert paths[0].endswith("pg_temp"), (name, paths)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ("'2025-01-03', NULL, NULL, '2025-01-03'", "expire_before 2025-01-03 must be before"),
        ("'2025-01-03', NULL, NULL, '2025-02-01'", "must be before archive_before"),
        ("'infinity', NULL, NULL, NULL", "out of range"),
        ("'2025-01-03', '2025-01-01', '10000-01-01', NULL", "out of range"),
        ("'2025-01-03', '2025-01-05', '2025-01-01', NULL", "is before first_day"),
    ],
)
def test_plan_refuses_what_python_refuses(tables, arguments, message):
    with pytest.raises(errors.InvalidParameterValue, match=message):
        tables.execute(
            f"SELECT * FROM audit_events_plan_maintenance('ev', 'ev_archive', {arguments})"
        )


def test_create_refuses_days_out_of_range(tables):
    with pytest.raises(errors.InvalidParameterValue, match="out of range"):
        tables.execute("SELECT audit_events_create_day_partition('ev', 'infinity')")


# --- Ownership ------------------------------------------------------------------------


@pytest.fixture
def owner_roles(tables: psycopg.Connection) -> Iterator[tuple[str, str]]:
    """A maintenance role owning both parents, and an unrelated role."""
    suffix = uuid.uuid4().hex[:8]
    maintainer, other = f"ae_maint_{suffix}", f"ae_other_{suffix}"
    for role in (maintainer, other):
        tables.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
    tables.execute(
        sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(maintainer))
    )
    for table in (
        "ev",
        "ev_archive",
        "audit_events_archivedday",
        "audit_events_archivedday_id_seq",
    ):
        kind = "SEQUENCE" if table.endswith("_seq") else "TABLE"
        tables.execute(
            sql.SQL("ALTER {} {} OWNER TO {}").format(
                sql.SQL(kind), sql.Identifier(table), sql.Identifier(maintainer)
            )
        )
    for day in range(1, 6):
        tables.execute(
            sql.SQL("ALTER TABLE {} OWNER TO {}").format(
                sql.Identifier(f"ev_p2025010{day}"), sql.Identifier(maintainer)
            )
        )
    yield maintainer, other
    tables.execute("RESET ROLE")
    for role in (maintainer, other):
        tables.execute(sql.SQL("DROP OWNED BY {} CASCADE").format(sql.Identifier(role)))
        tables.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


def _owner(conn: psycopg.Connection, table: str) -> str:
    return conn.execute(
        "SELECT relowner::regrole::text FROM pg_class WHERE oid = %s::regclass", [table]
    ).fetchone()[0]


def test_a_day_made_by_a_superuser_belongs_to_the_parents_owner(tables, owner_roles):
    maintainer, _ = owner_roles
    tables.execute("SELECT audit_events_create_day_partition('ev', '2025-01-09')")
    assert _owner(tables, "ev_p20250109") == maintainer


def test_a_role_that_is_not_the_owner_is_refused_with_the_role_to_use(tables, owner_roles):
    maintainer, other = owner_roles
    tables.execute(sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(other)))
    tables.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(other)))
    with pytest.raises(errors.InsufficientPrivilege) as info:
        tables.execute("SELECT audit_events_create_day_partition('ev', '2025-01-09')")
    assert info.value.diag.message_hint == f"Run maintenance as {maintainer}, the owner of ev."
    tables.execute("RESET ROLE")
    assert tables.execute("SELECT to_regclass('ev_p20250109')").fetchone() == (None,)


def test_rotation_gives_a_day_back_to_the_owner_when_it_can(tables, owner_roles):
    maintainer, other = owner_roles
    tables.execute(sql.SQL("ALTER TABLE ev_p20250102 OWNER TO {}").format(sql.Identifier(other)))
    plan = _plan(tables)
    assert plan[0][:3] == ("repair", "ev_p20250102", D(2025, 1, 2))
    assert plan[0][4] == [f"ALTER TABLE public.ev_p20250102 OWNER TO {maintainer}"]
    _run(tables)
    assert _owner(tables, "ev_p20250102") == maintainer
    assert ("ev_p20250102", D(2025, 1, 2), "archived") in {
        (t, d, s) for t, d, _, s in _status(tables)
    }


def test_rotation_reports_a_day_it_cannot_repair_and_maintains_the_others(tables, owner_roles):
    maintainer, other = owner_roles
    tables.execute(sql.SQL("ALTER TABLE ev_p20250102 OWNER TO {}").format(sql.Identifier(other)))
    tables.execute(sql.SQL("SET ROLE {}").format(sql.Identifier(maintainer)))
    plan = _plan(tables)
    repair = plan[0]
    assert repair[:3] == ("repair", "ev_p20250102", D(2025, 1, 2)) and repair[4] == []
    assert f"owned by {other}" in repair[3]
    assert f"ALTER TABLE public.ev_p20250102 OWNER TO {maintainer}" in repair[3]
    _run(tables)
    states = {(t, s) for t, _, _, s in _status(tables)}
    assert ("ev_p20250101", "archived") in states and ("ev_p20250102", "live") in states
    assert ("ev_p20250107", "live") in states
    tables.execute("RESET ROLE")


def test_the_premake_procedure_names_every_function_with_its_schema(sql_db):
    """It COMMITs, so it cannot pin its search_path: a hostile one changes nothing."""
    sql_db.execute(
        'CREATE TABLE ev (id int, "timestamp" timestamptz) PARTITION BY RANGE ("timestamp")'
    )
    sql_db.execute("CREATE SCHEMA dba_tools")
    sql_db.execute(
        "CREATE FUNCTION dba_tools.audit_events_create_day_partition(regclass, date) "
        "RETURNS regclass LANGUAGE sql AS $$ SELECT NULL::regclass $$"
    )
    sql_db.execute("SET search_path = dba_tools, pg_catalog")
    sql_db.execute("CALL public.audit_events_premake('public.ev', 2, lock_timeout => '1s')")
    sql_db.execute("RESET search_path")
    count = sql_db.execute("SELECT count(*) FROM pg_inherits WHERE inhparent = 'ev'::regclass")
    assert count.fetchone() == (3,)
