"""Start Python processes on the test run's database (as a given role, if asked).

Rotation in production is a separate process (cron, Celery beat): tests of
privileges, faults and the soak run it, and the writers, that way too.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from django.db import connection

ROOT = Path(__file__).resolve().parent.parent


def process_env(user: str | None = None, password: str | None = None, **extra: str) -> dict:
    """The environment of a process using ``tests.settings_process`` on this test database."""
    settings = connection.settings_dict
    database = {key: settings[key] for key in ("NAME", "HOST", "PORT", "USER", "PASSWORD")}
    if user is not None:
        database.update(USER=user, PASSWORD=password or "")
    return {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DJANGO_SETTINGS_MODULE": "tests.settings_process",
        "AUDIT_TEST_DATABASE": json.dumps(database),
        **extra,
    }


def python_command(code: str) -> list[str]:
    """The command running ``code`` after ``django.setup()``."""
    return [sys.executable, "-c", "import django; django.setup()\n" + code]


def run_python(code: str, env: dict, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``code`` (after ``django.setup()``) in a new process; raise if it fails."""
    result = subprocess.run(
        python_command(code),
        env=env,
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=timeout,
        check=False,
    )
    if result.returncode != 0:
        raise AssertionError(
            f"process failed ({result.returncode}):\n{result.stdout}\n{result.stderr}"
        )
    return result
