"""Run the real psql binary on the test database, as a DBA would."""

from __future__ import annotations

import os
import subprocess

from django.db import connection

from audit_events.testing import find_bindir


def psql(*args: str, user: str | None = None, options: str = "") -> subprocess.CompletedProcess:
    """``psql -X -v ON_ERROR_STOP=1 ARGS`` on the test database (``PGOPTIONS=options``)."""
    params = connection.get_connection_params()
    env = {**os.environ, "PGOPTIONS": options, "PGPASSWORD": params.get("password") or ""}
    command = [
        str(find_bindir() / "psql"),
        "-X",
        "-v",
        "ON_ERROR_STOP=1",
        "-h",
        params["host"],
        "-p",
        str(params["port"]),
        "-U",
        user or params["user"],
        "-d",
        params["dbname"],
        *args,
    ]
    return subprocess.run(
        command, env=env, capture_output=True, text=True, timeout=120, check=False
    )
