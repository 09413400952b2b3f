"""The DBA entry point, sql/run_maintenance.psql, run by the real psql binary.

It must end in the same catalog and ledger as rotate_audit_partitions, in any
session settings, stop at the first error with a non-zero exit, refuse the
wrong role and a second run, and leave nothing the next run does not repair.
"""

from __future__ import annotations

import datetime
import subprocess
import uuid

import psycopg
import pytest
from django.db import connection
from psycopg import sql

from audit_events.conf import settings
from audit_events.lifecycle import rotate
from audit_events.locks import try_rotation_lock
from audit_events.models import ArchivedDay
from audit_events.partitions import utc_today
from audit_events.sqlfiles import sql_dir
from audit_events.tamper import verify_archived_days
from tests.fixtures_lifecycle import (
    DAY,
    fresh_layout,  # noqa: F401 - fixture
    insert_rows,
    reset_layout,
    states,
)
from tests.fixtures_psql import psql

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]

SCRIPT = sql_dir() / "run_maintenance.psql"


def run_script(*variables: str, **kwargs: str) -> subprocess.CompletedProcess:
    # The script's grace defaults to AUDIT_SEAL_GRACE_HOURS' default; pass the tests' own.
    grace = f"seal_grace_hours={settings.AUDIT_SEAL_GRACE_HOURS}"
    args = [a for v in (grace, *variables) for a in ("-v", v)]
    return psql(*args, "-f", str(SCRIPT), **kwargs)


def snapshot() -> tuple[dict, list]:
    """The catalog and the ledger (digests as recorded or not: rows have random ids)."""
    ledger = sorted((d.day, d.row_count, len(d.digest)) for d in ArchivedDay.objects.all())
    return states(), ledger


def old_days() -> list[datetime.date]:
    """Two live days past the archive age, with rows."""
    from audit_events.models import AuditEvent
    from audit_events.partitions import create_day_partitions

    days = [utc_today() - 120 * DAY, utc_today() - 119 * DAY]
    create_day_partitions(AuditEvent, days[0], days[1])
    for n, day in enumerate(days):
        insert_rows(day, 10 + n)
    return days


def test_script_ends_where_rotation_ends():
    old_days()
    result = run_script()
    assert result.returncode == 0, result.stderr
    assert "audit_events: done" in result.stdout
    by_psql = snapshot()
    reset_layout()
    old_days()
    rotate()
    assert snapshot() == by_psql
    assert [length for _, _, length in by_psql[1]] == [64, 64]
    assert verify_archived_days() == []


@pytest.mark.parametrize(
    "options",
    [
        "-c DateStyle=Postgres,MDY -c TimeZone=Asia/Shanghai",
        "-c DateStyle=SQL,DMY -c TimeZone=Asia/Kolkata -c search_path=",
        "-c DateStyle=German -c IntervalStyle=sql_standard -c search_path=pg_temp",
    ],
)
def test_script_works_in_any_session_and_with_autocommit_off(options):
    days = old_days()
    result = run_script("AUTOCOMMIT=off", options=options)
    assert result.returncode == 0, result.stderr
    assert {states()[f"audit_events_auditevent_p{d:%Y%m%d}"][0] for d in days} == {"archived"}
    assert sorted(ArchivedDay.objects.values_list("day", flat=True)) == days
    assert verify_archived_days() == []


def test_script_stops_at_a_lock_timeout_and_the_next_run_repairs():
    days = old_days()
    with psycopg.connect(_dsn()) as reader:
        reader.execute("SELECT count(*) FROM audit_events_auditevent")  # holds ACCESS SHARE
        result = run_script("lock_timeout=200ms")
    assert result.returncode == 3
    assert "lock timeout" in result.stderr
    assert states()[f"audit_events_auditevent_p{days[0]:%Y%m%d}"][0] == "pending"
    assert ArchivedDay.objects.count() == 0  # no ledger row for a day not archived
    again = run_script()
    assert again.returncode == 0, again.stderr
    assert {states()[f"audit_events_auditevent_p{d:%Y%m%d}"][0] for d in days} == {"archived"}
    assert sorted(ArchivedDay.objects.values_list("day", flat=True)) == days
    assert verify_archived_days() == []


def _dsn() -> str:
    params = connection.get_connection_params()
    return psycopg.conninfo.make_conninfo(
        host=params["host"], port=params["port"], dbname=params["dbname"], user=params["user"]
    )


def test_script_refuses_a_second_run():
    """The lock rotate_audit_partitions holds (audit_events.locks) stops the script."""
    with psycopg.connect(_dsn(), autocommit=True) as holder:
        try_rotation_lock(holder.cursor(), "audit_events_auditevent")
        result = run_script()
    assert result.returncode == 3
    assert "another rotation is running" in result.stderr
    assert "audit_events: the plan" not in result.stdout


def test_script_refuses_another_role_and_names_the_owner():
    role = f"ae_dba_{uuid.uuid4().hex[:8]}"
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)).as_string())
    try:
        result = run_script(user=role)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)).as_string())
    owner = connection.get_connection_params()["user"]
    assert result.returncode == 3
    assert f"must run as {owner}, its owner (not as {role})" in result.stderr


def test_script_refuses_retention_not_longer_than_the_archive_age():
    result = run_script("retention_days=30")
    assert result.returncode == 3
    assert "must be before archive_before" in result.stderr


@pytest.fixture
def maintainer():
    """A maintenance role owning every audit table (the documented setup)."""
    from tests.test_privileges import set_owner

    role = f"ae_maint_{uuid.uuid4().hex[:8]}"
    superuser = connection.get_connection_params()["user"]
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(role)).as_string())
        cursor.execute(
            sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(role)).as_string()
        )
    set_owner(role)
    yield role
    set_owner(superuser)
    with connection.cursor() as cursor:
        cursor.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)).as_string())
        cursor.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)).as_string())


def _owner_of(table: str) -> str:
    with connection.cursor() as cursor:
        cursor.execute("SELECT relowner::regrole::text FROM pg_class WHERE relname = %s", [table])
        return cursor.fetchone()[0]


def test_days_a_superuser_makes_belong_to_the_owner_and_the_owner_rotates(maintainer):
    days = old_days()  # made by the superuser
    assert {_owner_of(f"audit_events_auditevent_p{d:%Y%m%d}") for d in days} == {maintainer}
    result = run_script(user=maintainer)
    assert result.returncode == 0, result.stderr
    assert {states()[f"audit_events_auditevent_p{d:%Y%m%d}"][0] for d in days} == {"archived"}
    assert verify_archived_days() == []


def test_a_day_of_another_role_is_reported_and_the_others_are_maintained(maintainer):
    days = old_days()
    stuck = f"audit_events_auditevent_p{days[0]:%Y%m%d}"
    superuser = connection.get_connection_params()["user"]
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE {stuck} OWNER TO {superuser}")
    result = run_script(user=maintainer)
    assert result.returncode == 0, result.stderr
    assert f"owned by {superuser}" in result.stdout
    assert states()[stuck][0] == "live"
    assert states()[f"audit_events_auditevent_p{days[1]:%Y%m%d}"][0] == "archived"
    again = run_script()  # a superuser run gives the day back to the owner, then archives it
    assert again.returncode == 0, again.stderr
    assert _owner_of(stuck) == maintainer and states()[stuck][0] == "archived"
    assert verify_archived_days() == []
