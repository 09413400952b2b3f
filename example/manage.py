#!/usr/bin/env python
"""manage.py of the demo project.

Without DATABASE_URL it runs a throwaway PostgreSQL of its own, keeping its data
in example/.pgdata between runs (stopped when this process exits).
"""

import atexit
import os
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
DEMO_DATABASE = "audit_events_demo"


def start_embedded_postgres() -> str:
    """Start the demo's own PostgreSQL; return a URL of the demo database."""
    import psycopg

    from audit_events.testing import EmbeddedPostgres

    server = EmbeddedPostgres(datadir=HERE / ".pgdata").start()
    atexit.register(server.stop)
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
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "demo_project.settings")
    if not os.environ.get("DATABASE_URL"):
        os.environ["DATABASE_URL"] = start_embedded_postgres()
    from django.core.management import execute_from_command_line

    execute_from_command_line(sys.argv)


if __name__ == "__main__":
    main()
