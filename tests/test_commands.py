"""The lifecycle management commands: output, dry runs and exit codes."""

from __future__ import annotations

import io

import psycopg
import pytest
from django.core.management import call_command, execute_from_command_line
from django.core.management.base import CommandError
from django.db import connection
from django.test import override_settings

from audit_events.locks import ADVISORY_LOCK_CLASS
from audit_events.models import AuditEvent
from audit_events.partitions import create_day_partitions, utc_today
from tests.fixtures_lifecycle import (
    DAY,
    fresh_layout,  # noqa: F401 - fixture
    insert_rows,
    states,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]


def _run(*args: str) -> tuple[str, str]:
    out, err = io.StringIO(), io.StringIO()
    call_command(*args, stdout=out, stderr=err)
    return out.getvalue(), err.getvalue()


def _catalog() -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT table_name, parent, state FROM audit_events_partition_status("
            "'audit_events_auditevent', 'audit_events_archivedauditevent')"
        )
        return cursor.fetchall()


def test_rotate_prints_one_line_per_step():
    with override_settings(AUDIT_PARTITION_PREMAKE_DAYS=16):
        out, _ = _run("rotate_audit_partitions")
    lines = out.splitlines()
    # The fresh layout's yesterday is over: rotation seals it.
    assert [line.split()[0] for line in lines] == ["create", "create", "seal", "analyze"]
    assert f"{utc_today() - DAY:%Y-%m-%d}" in lines[2]
    assert f"{utc_today() + 16 * DAY:%Y%m%d}" in lines[1]


def test_rotate_dry_run_prints_the_plan_and_changes_nothing():
    create_day_partitions(AuditEvent, utc_today() - 100 * DAY, utc_today() - 100 * DAY)
    insert_rows(utc_today() - 100 * DAY, 10)
    before = _catalog()
    out, _ = _run("rotate_audit_partitions", "--dry-run")
    # The old day is sealed first (it closed long ago), then archived.
    assert out.startswith(f"would seal    {utc_today() - 100 * DAY}")
    assert f"would archive {utc_today() - 100 * DAY}" in out
    assert _catalog() == before


def test_rotate_with_nothing_to_do_says_so():
    _run("rotate_audit_partitions")
    out, _ = _run("rotate_audit_partitions")
    assert out == "Nothing to do.\n"


def test_archive_command_archives_days_older_than_the_option():
    today = utc_today()
    create_day_partitions(AuditEvent, today - 40 * DAY, today - 29 * DAY)
    out, _ = _run("archive_audit_events", "--older-than", "35")
    # The moves only: no step reads a day's rows (sealing is rotation's), and ANALYZE
    # (whose cost grows with the data) is left to the rotation.
    assert [line.split()[0] for line in out.splitlines()] == ["archive"] * 5
    assert sorted(d for s, d in states().values() if s == "archived") == [
        today - n * DAY for n in range(40, 35, -1)
    ]


def test_archive_command_refuses_a_bad_age():
    with pytest.raises(CommandError, match="--older-than must be a number of days >= 1; got 0"):
        _run("archive_audit_events", "--older-than", "0")


def _lock_holder() -> psycopg.Connection:
    params = connection.get_connection_params()
    return psycopg.connect(
        psycopg.conninfo.make_conninfo(
            host=params["host"], port=params["port"], user=params["user"], dbname=params["dbname"]
        )
    )


def test_command_exits_0_when_another_rotation_holds_the_lock(capsys):
    with _lock_holder() as other:
        other.execute(
            "SELECT pg_advisory_lock(%s, hashtext(%s))",
            [ADVISORY_LOCK_CLASS, "audit_events_auditevent"],
        )
        execute_from_command_line(["manage.py", "rotate_audit_partitions"])  # no SystemExit
    assert "another rotation is running" in capsys.readouterr().out


def test_command_exits_1_with_a_clear_message_when_a_lock_cannot_be_had(capsys):
    with _lock_holder() as other:
        other.execute("LOCK TABLE audit_events_auditevent IN ACCESS EXCLUSIVE MODE")
        with (
            override_settings(
                AUDIT_PARTITION_PREMAKE_DAYS=16, AUDIT_LOCK_TIMEOUT_MS=50, AUDIT_DDL_RETRIES=0
            ),
            pytest.raises(SystemExit) as exit_info,
        ):
            execute_from_command_line(["manage.py", "rotate_audit_partitions"])
        other.rollback()
    assert exit_info.value.code == 1
    err = capsys.readouterr().err
    assert "could not get a lock within 50 ms after 1 tries" in err
    assert "run the command again" in err


def test_command_exits_1_on_bad_settings(capsys):
    with (
        override_settings(AUDIT_ARCHIVE_AFTER_DAYS=30, AUDIT_ARCHIVE_RETENTION_DAYS=30),
        pytest.raises(SystemExit) as exit_info,
    ):
        execute_from_command_line(["manage.py", "rotate_audit_partitions"])
    assert exit_info.value.code == 1
    assert "AUDIT_ARCHIVE_RETENTION_DAYS (30) must be greater" in capsys.readouterr().err


def test_status_lists_partitions_with_state():
    create_day_partitions(AuditEvent, utc_today() - 100 * DAY, utc_today() - 100 * DAY)
    call_command("archive_audit_events", stdout=io.StringIO())
    out, err = _run("audit_partitions")
    assert f"audit_events_auditevent_p{utc_today() - 100 * DAY:%Y%m%d}" in out
    assert " archived " in out and " live " in out
    assert err == ""


def test_status_warns_when_few_days_are_made_ahead():
    with connection.cursor() as cursor:
        for n in range(3, 15):
            cursor.execute(f"DROP TABLE audit_events_auditevent_p{utc_today() + n * DAY:%Y%m%d}")
    _, err = _run("audit_partitions")
    assert "Only 2 day(s) have partitions ahead of today" in err


@pytest.mark.parametrize(
    "command",
    ["rotate_audit_partitions", "archive_audit_events", "audit_partitions", "verify_audit_events"],
)
def test_unknown_database_alias_is_a_clear_error(command):
    from django.core.management import CommandError, call_command

    with pytest.raises(CommandError, match="invalid choice: 'nope'"):
        call_command(command, "--database", "nope")
