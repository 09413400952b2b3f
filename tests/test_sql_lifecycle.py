"""The shipped lifecycle SQL, called directly (the DBA path)."""

from __future__ import annotations

import datetime
import shutil
import subprocess

import psycopg
import pytest

D = datetime.date


@pytest.fixture
def tables(sql_db: psycopg.Connection) -> psycopg.Connection:
    """A live table with days 2025-01-01..05 (1,000 rows on the 1st) and an empty archive."""
    sql_db.execute(
        'CREATE TABLE ev (id uuid NOT NULL, "timestamp" timestamptz NOT NULL, payload text, '
        'PRIMARY KEY (id, "timestamp")) PARTITION BY RANGE ("timestamp")'
    )
    sql_db.execute('CREATE TABLE ev_archive (LIKE ev) PARTITION BY RANGE ("timestamp")')
    sql_db.execute('ALTER TABLE ev_archive ADD PRIMARY KEY (id, "timestamp")')
    sql_db.execute("SELECT audit_events_create_day_partitions('ev', '2025-01-01', '2025-01-05')")
    sql_db.execute(
        "INSERT INTO ev SELECT gen_random_uuid(), '2025-01-01'::timestamptz "
        "+ g * interval '80 seconds', 'x' FROM generate_series(0, 999) AS g"
    )
    return sql_db


def _status(conn: psycopg.Connection) -> list[tuple]:
    return conn.execute(
        "SELECT table_name, parent, day, state "
        "FROM audit_events_partition_status('ev', 'ev_archive')"
    ).fetchall()


def _run_statements(conn: psycopg.Connection, **window: object) -> None:
    """What psql's \\gexec does: each statement at top level, one after the other."""
    conn.execute("SET lock_timeout = '2s'")
    statements = conn.execute(
        "SELECT audit_events_maintenance_statements('ev', 'ev_archive', "
        "%(archive_before)s, %(first_day)s, %(last_day)s, %(expire_before)s)",
        {"first_day": None, "last_day": None, "expire_before": None, **window},
    ).fetchall()
    for (statement,) in statements:
        conn.execute(statement)


def test_status_reports_each_day_with_its_state_rows_and_size(tables):
    tables.execute("ANALYZE ev")
    rows = tables.execute(
        "SELECT table_name, parent, day, state, estimated_rows, size_bytes "
        "FROM audit_events_partition_status('ev', 'ev_archive')"
    ).fetchall()
    assert [r[:4] for r in rows][:2] == [
        ("ev_p20250101", "ev", D(2025, 1, 1), "live"),
        ("ev_p20250102", "ev", D(2025, 1, 2), "live"),
    ]
    assert rows[0][4] == 1000
    assert rows[0][5] > rows[1][5] > 0


def test_status_finds_an_orphan_by_name_and_check_constraint(tables):
    tables.execute("ALTER TABLE ev DETACH PARTITION ev_p20250102")
    tables.execute("CREATE TABLE ev_p20250109 (LIKE ev)")  # no bounds CHECK: not ours
    assert ("ev_p20250102", None, D(2025, 1, 2), "orphan") in _status(tables)
    assert "ev_p20250109" not in [r[0] for r in _status(tables)]


def test_plan_lists_steps_in_order_with_top_level_statements(tables):
    rows = tables.execute(
        "SELECT action, table_name, day, statements FROM audit_events_plan_maintenance("
        "'ev', 'ev_archive', archive_before => '2025-01-03', first_day => '2025-01-05', "
        "last_day => '2025-01-06') ORDER BY step"
    ).fetchall()
    # The archive parent is analyzed only where ANALYZE ONLY exists (PostgreSQL 18).
    archive_analyzed = (
        [("analyze", "ev_archive", None)] if tables.info.server_version >= 180000 else []
    )
    assert [(a, t, d) for a, t, d, _ in rows] == [
        ("create", "ev_p20250106", D(2025, 1, 6)),
        ("archive", "ev_p20250101", D(2025, 1, 1)),
        ("archive", "ev_p20250102", D(2025, 1, 2)),
        ("analyze", "ev", None),
        *archive_analyzed,
    ]
    assert rows[1][3] == [
        "ALTER TABLE public.ev DETACH PARTITION public.ev_p20250101 CONCURRENTLY",
        "ALTER TABLE public.ev_archive ATTACH PARTITION public.ev_p20250101 FOR VALUES FROM "
        "('2025-01-01 00:00:00+00') TO ('2025-01-02 00:00:00+00')",
    ]


def test_plan_changes_nothing(tables):
    before = _status(tables)
    tables.execute(
        "SELECT * FROM audit_events_plan_maintenance('ev', 'ev_archive', "
        "'2025-01-04', '2025-01-01', '2025-01-09', '2025-01-02')"
    )
    assert _status(tables) == before


def test_statements_archive_without_copying(tables):
    node = tables.execute("SELECT relfilenode FROM pg_class WHERE relname = 'ev_p20250101'")
    before = node.fetchone()[0]
    _run_statements(tables, archive_before=D(2025, 1, 2))
    assert ("ev_p20250101", "ev_archive", D(2025, 1, 1), "archived") in _status(tables)
    assert tables.execute("SELECT count(*) FROM ev_archive").fetchone()[0] == 1000
    after = tables.execute("SELECT relfilenode FROM pg_class WHERE relname = 'ev_p20250101'")
    assert after.fetchone()[0] == before


def test_statements_expire_past_retention(tables):
    _run_statements(tables, archive_before=D(2025, 1, 4))
    _run_statements(tables, archive_before=D(2025, 1, 4), expire_before=D(2025, 1, 2))
    assert [r[0] for r in _status(tables) if r[3] == "archived"] == ["ev_p20250102", "ev_p20250103"]
    assert tables.execute("SELECT to_regclass('ev_p20250101')").fetchone()[0] is None


def test_statements_repair_a_pending_detach_and_an_orphan(tables):
    tables.execute("ALTER TABLE ev DETACH PARTITION ev_p20250102")
    with psycopg.connect(tables.info.dsn) as reader:
        reader.execute("SELECT count(*) FROM ev")
        tables.execute("SET lock_timeout = '100ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            tables.execute("ALTER TABLE ev DETACH PARTITION ev_p20250101 CONCURRENTLY")
    assert [r[3] for r in _status(tables)][:2] == ["pending", "orphan"]
    _run_statements(tables, archive_before=D(2025, 1, 3))
    assert [r[1:] for r in _status(tables)][:2] == [
        ("ev_archive", D(2025, 1, 1), "archived"),
        ("ev_archive", D(2025, 1, 2), "archived"),
    ]


def test_plan_requires_the_archive_age(tables):
    with pytest.raises(psycopg.errors.NullValueNotAllowed):
        tables.execute("SELECT * FROM audit_events_plan_maintenance('ev', 'ev_archive', NULL)")


def test_check_bounds_reads_the_day_from_the_constraint(tables):
    row = tables.execute("SELECT * FROM audit_events_check_bounds('ev_p20250103')").fetchone()
    assert [b.date() for b in row] == [D(2025, 1, 3), D(2025, 1, 4)]


@pytest.fixture
def ledger(tables: psycopg.Connection) -> psycopg.Connection:
    """The ledger table the plan records archived days in, with its migration's columns."""
    tables.execute(
        "CREATE TABLE audit_events_archivedday (id bigserial PRIMARY KEY, "
        "archive_table varchar(63) NOT NULL, day date NOT NULL, "
        "archived_at timestamptz NOT NULL, row_count bigint, digest varchar(64) NOT NULL, "
        "repaired_at timestamptz, UNIQUE (archive_table, day))"
    )
    return tables


def _gexec(conn: psycopg.Connection, archive_before: str) -> subprocess.CompletedProcess:
    """The DBA path for real: psql's \\gexec over audit_events_maintenance_statements."""
    info = conn.info
    script = (
        "SET lock_timeout = '2s';\n"
        "SELECT audit_events_maintenance_statements('ev', 'ev_archive', "
        f"archive_before => '{archive_before}') \\gexec\n"
    )
    return subprocess.run(
        [
            shutil.which("psql") or "psql",
            "-X",
            "-q",
            "-h",
            info.host,
            "-p",
            str(info.port),
            "-U",
            info.user,
            info.dbname,
        ],
        input=script,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_archive_statement_attaches_and_records_in_one_transaction(ledger):
    """The ATTACH and its ledger row share one statement string: both or neither."""
    (statements,) = ledger.execute(
        "SELECT statements FROM audit_events_plan_maintenance('ev', 'ev_archive', "
        "'2025-01-02') WHERE action = 'archive'"
    ).fetchone()
    assert len(statements) == 2
    assert statements[1].startswith(
        "ALTER TABLE public.ev_archive ATTACH PARTITION public.ev_p20250101"
    )
    assert "; INSERT INTO public.audit_events_archivedday" in statements[1]


def test_psql_gexec_runs_the_attach_and_its_record_as_one_transaction(ledger):
    """A failing ledger insert undoes the ATTACH under psql too; the next run finishes."""
    ledger.execute(
        "CREATE FUNCTION refuse() RETURNS trigger LANGUAGE plpgsql AS "
        "$$ BEGIN RAISE EXCEPTION 'ledger refused'; END $$"
    )
    ledger.execute(
        "CREATE TRIGGER refuse BEFORE INSERT ON audit_events_archivedday "
        "FOR EACH ROW EXECUTE FUNCTION refuse()"
    )
    result = _gexec(ledger, "2025-01-02")
    assert "ledger refused" in result.stderr
    assert ("ev_p20250101", None, D(2025, 1, 1), "orphan") in _status(ledger)
    ledger.execute("DROP TRIGGER refuse ON audit_events_archivedday")
    result = _gexec(ledger, "2025-01-02")
    assert result.returncode == 0, result.stderr
    assert ("ev_p20250101", "ev_archive", D(2025, 1, 1), "archived") in _status(ledger)
    rows = ledger.execute("SELECT day, repaired_at FROM audit_events_archivedday").fetchall()
    assert rows == [(D(2025, 1, 1), None)]


def test_statements_record_an_unrecorded_archive_day_as_repaired(ledger):
    _run_statements(ledger, archive_before=D(2025, 1, 3))
    ledger.execute("DELETE FROM audit_events_archivedday WHERE day = '2025-01-02'")
    _run_statements(ledger, archive_before=D(2025, 1, 3))
    rows = ledger.execute(
        "SELECT day, repaired_at IS NOT NULL FROM audit_events_archivedday ORDER BY day"
    ).fetchall()
    assert rows == [(D(2025, 1, 1), False), (D(2025, 1, 2), True)]


def test_create_day_partitions_over_archived_days_returns_them_unchanged(tables):
    _run_statements(tables, archive_before=D(2025, 1, 3))
    created = tables.execute(
        "SELECT audit_events_create_day_partitions('ev', '2025-01-01', '2025-01-03')::text"
    ).fetchall()
    assert created == [("ev_p20250101",), ("ev_p20250102",), ("ev_p20250103",)]
    assert [r[1:] for r in _status(tables)][:3] == [
        ("ev_archive", D(2025, 1, 1), "archived"),
        ("ev_archive", D(2025, 1, 2), "archived"),
        ("ev", D(2025, 1, 3), "live"),
    ]
