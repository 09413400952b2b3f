"""The README's main job: the demo records, rotates and archives events."""

import os
import re
import signal
import socket
import subprocess
import sys
import time
import uuid
from pathlib import Path

import psycopg

from audit_events.testing import EmbeddedPostgres

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
    result = run_demo(env)
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
    assert "audit_events:" not in result.stderr + out  # no raw log line of the library

    again = run_demo(env)  # regression (issue 10): the second run raised WrongObjectType
    # Days the first run's rotation sealed are not written again (new events for them
    # would be amendments); the others (today, a day within its grace) are.
    found = re.search(r"Recorded (\d+) events over (\d+) days", again.stdout)
    assert found, again.stdout
    events, days = map(int, found.groups())
    skipped = re.search(r"Skipped (\d+) days sealed by an earlier run", again.stdout)
    assert skipped, again.stdout
    assert events == 2 * days and 1 <= days <= 3 and days + int(skipped[1]) == 94
    old_event_again = "Skipped the event dated" not in again.stdout
    with psycopg.connect(url) as connection:
        total = sum(
            connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("audit_events_auditevent", "audit_events_archivedauditevent")
        )
        pending = [
            connection.execute(f"SELECT count(*) FROM {table}").fetchone()[0]
            for table in ("audit_events_auditevent_spool", "audit_events_quarantinedevent")
        ]
    assert total == (94 * 2 + 3 + 1) + events + 3 + old_event_again
    assert pending == [0, 0]  # nothing waits, nothing was refused as a late event
    verify = subprocess.run(
        [sys.executable, "example/manage.py", "verify_audit_events"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert verify.returncode == 0, verify.stdout + verify.stderr


def run_demo(env: dict) -> subprocess.CompletedProcess:
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
    return result


def test_a_kept_data_directory_is_durable_and_its_running_server_is_reused(tmp_path):
    """The demo keeps its data: durable settings, and a server left running by a killed
    process (postmaster.pid in place) is taken over by the next start, then stopped cleanly."""
    datadir = tmp_path / "pgdata"
    first = EmbeddedPostgres(datadir=datadir).start()
    with psycopg.connect(first.url, autocommit=True) as connection:
        settings = [
            connection.execute(f"SHOW {name}").fetchone()[0]
            for name in ("fsync", "synchronous_commit", "full_page_writes")
        ]
        connection.execute("CREATE TABLE kept AS SELECT 42 AS answer")
    assert settings == ["on", "on", "on"]
    # `first` is abandoned without stop(), as by a SIGKILLed demo.
    second = EmbeddedPostgres(datadir=datadir).start()
    assert second.port == first.port
    with psycopg.connect(second.url) as connection:
        assert connection.execute("SELECT answer FROM kept").fetchone() == (42,)
    second.stop()
    assert not (datadir / "postmaster.pid").exists()
    third = EmbeddedPostgres(datadir=datadir).start()  # after a clean stop: a normal start
    try:
        with psycopg.connect(third.url) as connection:
            assert connection.execute("SELECT answer FROM kept").fetchone() == (42,)
    finally:
        third.stop()


def test_demo_server_stops_its_postgresql_on_sigterm(tmp_path):
    """Regression (issue 10): SIGTERM of `make demo-server` left PostgreSQL running."""
    datadir = tmp_path / "pgdata"
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    env = {**os.environ, "AUDIT_DEMO_PGDATA": str(datadir), "PYTHONPATH": str(ROOT)}
    env.pop("DATABASE_URL", None)
    env.pop("DJANGO_SETTINGS_MODULE", None)
    log = tmp_path / "server.out"
    with log.open("w") as out:
        server = subprocess.Popen(
            [sys.executable, "example/manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"],
            cwd=ROOT,
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
            text=True,
        )
        deadline = time.monotonic() + 120
        while "Quit the server" not in log.read_text() and time.monotonic() < deadline:
            assert server.poll() is None, log.read_text()
            time.sleep(0.2)
        assert (datadir / "postmaster.pid").exists(), log.read_text()
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 128 + signal.SIGTERM
    assert not (datadir / "postmaster.pid").exists(), log.read_text()
