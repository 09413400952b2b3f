"""Fault injection: rotation killed or cut off anywhere; the next run repairs, nothing is lost.

Each test builds a layout with work of every kind (days to archive with rows,
a missing future partition, spooled events for a live-age day and for a day
past the archive age), runs rotation in its own process, breaks it, runs
rotation again and checks: every event stored exactly once, no day table left
pending or orphaned, the spool empty, every archived day's digest verified.
"""

from __future__ import annotations

import datetime
import signal
import threading

import psycopg
import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection, connections
from django.test import override_settings
from psycopg import sql

from audit_events.lifecycle import partition_status, rotate
from audit_events.models import AuditEvent
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.spool import spooled_days
from audit_events.tamper import verify_archived_days
from tests.fixtures_lifecycle import DAY, fresh_layout, insert_rows  # noqa: F401 - fixture
from tests.fixtures_reliability import (
    assert_each_exactly_once,
    assert_layout_is_sound,
    rotate_in_process,
    rotation_backend,
    start_python,
    terminate,
    wait_for,
    where_is_everything,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]

#: Rotation processes that must still be waiting when the test acts on them.
LONG_LOCK_TIMEOUT = '{"AUDIT_LOCK_TIMEOUT_MS": 60000}'
#: A full rotation of ``work_of_every_kind()`` logs this many messages (checked below);
#: sealing adds one per day it seals.
MESSAGES = 16


def save_at(when: datetime.datetime) -> None:
    ct = ContentType.objects.get_for_model(AuditEvent)
    AuditEvent(content_type=ct, object_id="x", timestamp=when).save()


def work_of_every_kind() -> list:
    """Two days to archive (30 rows each), a gap ahead, two spooled days; the ids."""
    today = utc_today()
    for days_ago in (101, 100):
        create_day_partitions(AuditEvent, today - days_ago * DAY, today - days_ago * DAY)
        insert_rows(today - days_ago * DAY, 30)
    with connection.cursor() as cursor:
        name = f"audit_events_auditevent_p{today + 5 * DAY:%Y%m%d}"
        cursor.execute(
            sql.SQL("DROP TABLE {}").format(sql.Identifier(name)).as_string(cursor.connection)
        )
    for days_ago in (20, 200):  # no partition: spooled; drained to live / to the archive
        save_at(day_bounds(today - days_ago * DAY)[0] + datetime.timedelta(hours=3))
    return list(where_is_everything())


def assert_repaired(ids: list) -> None:
    wait_for(lambda: rotation_backend() is None, "the killed run's backend to go")
    rotate()
    assert_layout_is_sound()
    assert_each_exactly_once(ids)
    assert spooled_days(AuditEvent, "default") == []
    assert verify_archived_days() == []
    archived = {s.day for s in partition_status() if s.state == "archived"}
    assert {utc_today() - n * DAY for n in (101, 100, 200)} <= archived


def test_a_full_run_of_the_layout_logs_the_expected_steps():
    """Keeps MESSAGES honest: each kill point below falls inside a run."""
    work_of_every_kind()
    result = rotate_in_process()
    assert result.returncode == 0, result.stderr
    # PostgreSQL 18 adds one step: ANALYZE ONLY of the archive parent.
    archive_analyzed = connection.pg_version >= 180000
    assert f"messages {MESSAGES + archive_analyzed}" in result.stdout


@pytest.mark.parametrize("kill_after", range(1, MESSAGES))
def test_rotation_killed_after_any_step_is_repaired_by_the_next_run(kill_after):
    ids = work_of_every_kind()
    result = rotate_in_process(AUDIT_KILL_AFTER=str(kill_after))
    assert result.returncode == -signal.SIGKILL, result.stderr
    assert_repaired(ids)


def test_rotation_killed_between_detach_and_attach_is_repaired():
    """The day is in neither table (an orphan) until the next run attaches it."""
    ids = work_of_every_kind()
    result = rotate_in_process(AUDIT_KILL_AFTER_DETACH="1")
    assert result.returncode == -signal.SIGKILL
    assert "orphan" in {s.state for s in partition_status()}
    assert_repaired(ids)


@pytest.fixture
def open_reader():
    """Opens a long report: a transaction that has read the live table, left open.

    Called after the layout is built: the report's locks would block its DDL.
    """
    opened = []

    def open_one() -> psycopg.Connection:
        params = connection.get_connection_params()
        conn = psycopg.connect(
            host=params["host"],
            port=params["port"],
            user=params["user"],
            dbname=params["dbname"],
            password=params.get("password", ""),
        )
        conn.execute("BEGIN")
        conn.execute("SELECT count(*) FROM audit_events_auditevent")
        opened.append(conn)
        return conn

    yield open_one
    for conn in opened:
        conn.close()


def waiting_rotation() -> int | None:
    """The pid of a rotation backend waiting on a lock inside DETACH (CONCURRENTLY or FINALIZE)."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND query LIKE '%%DETACH PARTITION%%'"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def test_rotation_killed_and_cut_off_mid_detach_is_repaired(open_reader):
    """SIGKILL plus pg_terminate_backend while DETACH CONCURRENTLY waits: 'pending detach'."""
    ids = work_of_every_kind()
    reader = open_reader()
    process = start_python(
        "from audit_events.lifecycle import rotate; rotate()", AUDIT_TEST_SETTINGS=LONG_LOCK_TIMEOUT
    )
    pid = wait_for(waiting_rotation, "rotation to wait inside DETACH CONCURRENTLY")
    process.kill()
    terminate(pid)
    reader.execute("COMMIT")
    wait_for(lambda: rotation_backend() is None, "the killed run's backend to go")
    assert "pending" in {s.state for s in partition_status()}
    assert_repaired(ids)


def test_connection_dropped_mid_rotation_fails_cleanly_and_is_repaired(open_reader):
    """The rotation's connection is terminated while it waits; the run reports failure."""
    ids = work_of_every_kind()
    reader = open_reader()
    process = start_python(
        "from audit_events.lifecycle import rotate; rotate()", AUDIT_TEST_SETTINGS=LONG_LOCK_TIMEOUT
    )
    pid = wait_for(waiting_rotation, "rotation to wait inside DETACH CONCURRENTLY")
    terminate(pid)
    status, _, stderr = process.finish()
    assert status == 1
    assert "PartitioningError" in stderr or "OperationalError" in stderr
    reader.execute("COMMIT")
    assert_repaired(ids)


def test_writers_are_not_stalled_while_rotation_waits_for_a_long_reader(open_reader):
    """Rotation waits (and retries under lock_timeout) behind a report; inserts go on."""
    ids = work_of_every_kind()
    reader = open_reader()
    outcome = {}

    def run_rotation():
        try:
            outcome["steps"] = rotate()
        finally:
            connections.close_all()

    rotation = threading.Thread(target=run_rotation)
    rotation.start()
    wait_for(waiting_rotation, "rotation to wait behind the reader")
    for _ in range(20):
        save_at(datetime.datetime.now(datetime.UTC))
    # Those inserts returned while the rotation was still blocked by the reader:
    # DETACH CONCURRENTLY and ATTACH take SHARE UPDATE EXCLUSIVE, which inserts ignore.
    assert rotation.is_alive()
    reader.execute("COMMIT")
    rotation.join(timeout=120)
    assert "archive" in {s.action for s in outcome["steps"]}
    assert_layout_is_sound()
    assert len(where_is_everything()) == len(ids) + 20


def test_rotation_not_run_for_30_days_catches_up():
    """The last run was 30 days ago: its partitions ran out 16 days ago."""
    today = utc_today()
    with connection.cursor() as cursor:
        for status in partition_status():
            cursor.execute(
                sql.SQL("DROP TABLE {}").format(sql.SQL(status.table)).as_string(cursor.connection)
            )
    create_day_partitions(AuditEvent, today - 31 * DAY, today - 16 * DAY)
    for days_ago in range(31, -1, -1):  # an event every day, through the gap
        save_at(day_bounds(today - days_ago * DAY)[0] + datetime.timedelta(hours=12))
    ids = list(where_is_everything())
    assert len(spooled_days(AuditEvent, "default")) == 16
    with override_settings(AUDIT_ARCHIVE_AFTER_DAYS=7):
        rotate()
    assert_layout_is_sound()
    assert_each_exactly_once(ids)
    assert spooled_days(AuditEvent, "default") == []
    live = sorted(s.day for s in partition_status() if s.state == "live")
    assert live[0] == today - 7 * DAY and live[-1] == today + 14 * DAY
    assert verify_archived_days() == []
