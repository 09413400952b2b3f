"""Rotation next to a busy application, and two rotations at once."""

from __future__ import annotations

import threading

import psycopg
import pytest
from django.db import connection, connections

from audit_events.exceptions import RotationInProgress
from audit_events.lifecycle import archive_older_than, rotate
from audit_events.locks import ADVISORY_LOCK_CLASS
from audit_events.models import AuditEvent
from audit_events.partitions import create_day_partitions, utc_today
from tests.fixtures_lifecycle import (
    DAY,
    Writers,
    count_everywhere,
    fresh_layout,  # noqa: F401 - fixture
    insert_rows,
    states,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]


def test_writers_lose_nothing_and_see_no_error_while_rotation_archives():
    today = utc_today()
    old = [today - n * DAY for n in range(100, 94, -1)]
    create_day_partitions(AuditEvent, old[0], old[-1])
    for day in old:
        insert_rows(day, 2_000)
    # Half the writers write today, half write into the days being archived.
    with Writers(4, day_for=lambda n, i: today if n % 2 else old[i % len(old)]) as writers:
        while writers.written < 200:
            threading.Event().wait(0.05)
        steps = rotate(today=today)
        written_during = writers.written
    assert writers.errors == []
    assert written_during > 200
    assert [s.day for s in steps if s.action == "archive"] == old
    assert all(states()[s.table][0] == "archived" for s in steps if s.action == "archive")
    assert count_everywhere() == 6 * 2_000 + writers.written


def test_writers_lose_nothing_while_archive_runs_repeatedly():
    today = utc_today()
    create_day_partitions(AuditEvent, today - 120 * DAY, today - 91 * DAY)
    with Writers(3) as writers:
        for older_than in (110, 100, 90):
            archive_older_than(older_than, today=today)
    assert writers.errors == []
    assert writers.written > 0
    assert count_everywhere() == writers.written
    assert sum(1 for state, _ in states().values() if state == "archived") == 30


def test_second_rotation_while_one_runs_raises_rotation_in_progress():
    rotate()  # seals yesterday, so that the last run below has nothing to do
    params = connection.get_connection_params()
    dsn = psycopg.conninfo.make_conninfo(
        host=params["host"], port=params["port"], user=params["user"], dbname=params["dbname"]
    )
    with psycopg.connect(dsn, autocommit=True) as other:
        other.execute(
            "SELECT pg_advisory_lock(%s, hashtext(%s))",
            [ADVISORY_LOCK_CLASS, "audit_events_auditevent"],
        )
        with pytest.raises(RotationInProgress, match="another rotation is running"):
            rotate()
        with pytest.raises(RotationInProgress):
            archive_older_than(90)
    assert rotate() == []  # the lock went with the other session


def test_two_rotations_at_once_are_harmless():
    today = utc_today()
    create_day_partitions(AuditEvent, today - 100 * DAY, today - 95 * DAY)
    before = states()
    results: list[object] = []
    barrier = threading.Barrier(2)

    def run() -> None:
        barrier.wait()
        try:
            results.append(rotate(today=today))
        except RotationInProgress as exc:
            results.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    archived = [s for r in results if isinstance(r, list) for s in r if s.action == "archive"]
    assert sorted(s.day for s in archived) == sorted(
        d for _, d in before.values() if d < today - 90 * DAY
    )
    assert all(not isinstance(r, Exception) or isinstance(r, RotationInProgress) for r in results)
    assert {state for state, day in states().values() if day < today - 90 * DAY} == {"archived"}
