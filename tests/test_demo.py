"""The README's main job: the demo records, rotates and archives events."""

import os
import subprocess
import sys
import uuid
from pathlib import Path

import psycopg

ROOT = Path(__file__).resolve().parent.parent


def test_demo_records_rotates_and_archives(audit_pg_server):
    dbname = f"demo_{uuid.uuid4().hex[:8]}"
    admin_url = (
        f"postgresql://{audit_pg_server.user}:{audit_pg_server.password}@"
        f"{audit_pg_server.host}:{audit_pg_server.port}/{audit_pg_server.maintenance_dbname}"
    )
    with psycopg.connect(admin_url, autocommit=True) as connection:
        connection.execute(f'CREATE DATABASE "{dbname}"')
    url = admin_url.rsplit("/", 1)[0] + f"/{dbname}"
    env = {**os.environ, "DATABASE_URL": url, "PYTHONPATH": str(ROOT)}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    result = subprocess.run(
        [sys.executable, "example/manage.py", "demo", "--days", "93", "--events-per-day", "2"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "archive 20" in out
    assert "drain" in out  # the spooled two-year-old event was filed
    assert "token=********" in out and "s3cret" not in out
    with psycopg.connect(url) as connection:
        live, archived = (
            connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("audit_events_auditevent", "audit_events_archivedauditevent")
        )
        spool_query = "SELECT count(*) FROM audit_events_auditevent_spool"
        spooled = connection.execute(spool_query).fetchone()[0]
    # 94 days x 2 history events, 3 request events, 1 spooled old event: all somewhere, once.
    assert live + archived + spooled == 94 * 2 + 3 + 1
    assert archived >= 2 * 2 + 1 and spooled == 0
