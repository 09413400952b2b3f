#!/usr/bin/env python
"""manage.py of the demo project.

Without DATABASE_URL it runs a PostgreSQL of its own, keeping its data in
example/.pgdata between runs with PostgreSQL's durable settings. The server
stops when this process exits, also on SIGINT (Ctrl-C), SIGTERM and SIGHUP,
with a clean (``fast``) shutdown. A server left running by a process killed
outright (SIGKILL) is found through its ``postmaster.pid`` and reused by the
next run. ``manage.py --stop-server`` stops it; ``make demo-reset`` also
deletes the data.
"""

import atexit
import os
import signal
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO_DATABASE = "audit_events_demo"
#: Where the demo's server keeps its data (tests point it elsewhere).
PGDATA = Path(os.environ.get("AUDIT_DEMO_PGDATA") or HERE / ".pgdata")


def _exit_on_signal(signum: int, _frame: object) -> None:
    # SystemExit unwinds the process normally, so atexit stops the server.
    sys.exit(128 + signum)


def start_embedded_postgres() -> str:
    """Start (or reuse) the demo's own PostgreSQL; return a URL of the demo database."""
    import psycopg

    from audit_events.testing import EmbeddedPostgres

    for signum in (signal.SIGTERM, signal.SIGHUP):
        signal.signal(signum, _exit_on_signal)
    server = EmbeddedPostgres(datadir=PGDATA)
    atexit.register(server.stop)
    server.start()
    with psycopg.connect(server.url, autocommit=True) as connection:
        exists = connection.execute(
            "SELECT 1 FROM pg_database WHERE datname = %s", [DEMO_DATABASE]
        ).fetchone()
        if not exists:
            connection.execute(f'CREATE DATABASE "{DEMO_DATABASE}"')
    print(f"Embedded PostgreSQL on {server.host}:{server.port} (data in {server.datadir})")
    return server.url_for(DEMO_DATABASE)


def main() -> None:
    sys.path[:0] = [str(HERE), str(HERE.parent)]
    if sys.argv[1:] == ["--stop-server"]:
        from audit_events.testing import EmbeddedPostgres

        EmbeddedPostgres(datadir=PGDATA).start().stop()
        print(f"Stopped the demo's PostgreSQL (data kept in {PGDATA}).")
        return
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = start_embedded_postgres()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
