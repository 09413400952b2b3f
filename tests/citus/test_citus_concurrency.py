"""Rotation on the Citus cluster against kills, blockers on the workers and busy writers."""

from __future__ import annotations

import datetime
import json
import signal
import subprocess
import threading
import time

import psycopg
import pytest
from django.db import connections
from django.test import override_settings

from audit_events.exceptions import PartitioningError
from audit_events.lifecycle import archive_older_than, partition_status, rotate
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from tests.citus.conftest import DAY, worker_connections
from tests.citus.test_citus_cluster import LIVE, shard_files, shard_rows, write_day
from tests.processes import ROOT, process_env, python_command
from tests.swapapp.models import ArchivedTenantEvent, TenantEvent
from tests.testapp.models import Article

pytestmark = pytest.mark.usefixtures("cluster_db")

SWAPPED = {
    "INSTALLED_APPS": [
        "django.contrib.auth",
        "django.contrib.contenttypes",
        "audit_events",
        "tests.testapp",
        "tests.swapapp",
    ],
    "AUDIT_EVENT_MODEL": "swapapp.TenantEvent",
    "AUDIT_EVENT_ARCHIVE_MODEL": "swapapp.ArchivedTenantEvent",
}


def state_of(day: datetime.date) -> set[str]:
    return {s.state for s in partition_status() if s.day == day}


def wait_for(predicate, what: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(0.05)


def waiting_backends(cluster, text: str) -> list[int]:
    """Coordinator backends whose query contains ``text`` and that wait for a lock."""
    with psycopg.connect(cluster.url, autocommit=True) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE wait_event_type = 'Lock' "
            "AND strpos(query, %s) > 0 AND pid <> pg_backend_pid()",
            [text],
        ).fetchall()
    return [pid for (pid,) in rows]


def open_worker_transactions(cluster) -> int:
    """Sessions on the workers inside a transaction (other than this check's own)."""
    total = 0
    for conn in worker_connections(cluster):
        with conn:
            total += conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE state LIKE 'idle in transaction%%' "
                "AND pid <> pg_backend_pid()"
            ).fetchone()[0]
    return total


def test_sigkill_between_detach_and_attach_loses_nothing_and_the_next_run_archives(
    citus_cluster,
):
    """On Citus a day's DETACH and ATTACH are one transaction: a kill undoes both."""
    today = utc_today()
    day = today - 900 * DAY
    create_day_partitions(TenantEvent, day, day)
    write_day(day, ["kill-a", "kill-b"], 20)
    name = f"{LIVE}_p{day:%Y%m%d}"
    files = shard_files(citus_cluster, name)
    # The archive parent is locked: the rotation's DETACH from live goes through,
    # then its ATTACH waits, and the rotation process is killed right there.
    blocker = psycopg.connect(citus_cluster.url)
    blocker.execute("LOCK TABLE swapapp_archivedtenantevent IN SHARE UPDATE EXCLUSIVE MODE")
    env = process_env(AUDIT_TEST_SETTINGS=json.dumps({**SWAPPED, "AUDIT_LOCK_TIMEOUT_MS": 120000}))
    code = (
        "import datetime\nfrom audit_events.lifecycle import archive_older_than\n"
        f"archive_older_than(899, today=datetime.date.fromisoformat('{today}'))"
    )
    process = subprocess.Popen(python_command(code), env=env, cwd=ROOT)
    try:
        wait_for(lambda: waiting_backends(citus_cluster, name), "the ATTACH to wait")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
        # A server backend waiting for a lock does not notice its client is gone.
        (pid,) = waiting_backends(citus_cluster, name)
        blocker.execute("SELECT pg_terminate_backend(%s::integer)", [pid])
    finally:
        process.kill()
        blocker.rollback()
        blocker.close()
    wait_for(lambda: not waiting_backends(citus_cluster, name), "the killed backend to go")
    wait_for(lambda: not open_worker_transactions(citus_cluster), "its worker sessions to end")

    assert state_of(day) == {"live"}  # not detached and left out of both tables
    assert TenantEvent.objects.filter(timestamp__date=day).count() == 40
    steps = archive_older_than(899, today=today)
    assert ("archive", day) in [(s.action, s.day) for s in steps]
    assert state_of(day) == {"archived"}
    assert shard_files(citus_cluster, name) == files
    assert shard_rows(citus_cluster, name) == 40


def test_day_detached_by_hand_is_repaired_into_the_archive(citus_cluster):
    today = utc_today()
    day = today - 950 * DAY
    create_day_partitions(TenantEvent, day, day)
    write_day(day, ["repair"], 10)
    name = f"{LIVE}_p{day:%Y%m%d}"
    files = shard_files(citus_cluster, name)
    with connections["default"].cursor() as cursor:
        cursor.execute(f'ALTER TABLE {LIVE} DETACH PARTITION "{name}"')
    assert state_of(day) == {"orphan"}

    steps = archive_older_than(949, today=today)

    assert ("repair", day) in [(s.action, s.day) for s in steps]
    assert state_of(day) == {"archived"}
    assert ArchivedTenantEvent.objects.filter(timestamp__date=day).count() == 10
    assert shard_files(citus_cluster, name) == files


def test_lock_timeout_bounds_a_wait_on_a_worker(citus_cluster):
    """A blocker on a worker makes the archive give up after lock_timeout, not wait forever."""
    today = utc_today()
    day = today - 1000 * DAY
    (name,) = create_day_partitions(TenantEvent, day, day)
    blockers = worker_connections(citus_cluster)
    shard = None
    for conn in blockers:
        conn.execute("SET citus.show_shards_for_app_name_prefixes TO '*'")
        found = conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ %s LIMIT 1",
            [f"^{name}_[0-9]+$"],
        ).fetchone()
        if found:
            shard = (conn, found[0])
            break
    assert shard is not None
    conn, shard_name = shard
    conn.execute("SET citus.enable_manual_changes_to_shards TO on")
    conn.autocommit = False
    conn.execute(
        psycopg.sql.SQL("LOCK TABLE {} IN ACCESS SHARE MODE").format(
            psycopg.sql.Identifier(shard_name)
        )
    )
    # Should the timeout not reach the worker, the wait ends here and the test fails.
    release = threading.Timer(60, conn.cancel)
    release.start()
    try:
        with (
            override_settings(AUDIT_LOCK_TIMEOUT_MS=300, AUDIT_DDL_RETRIES=1),
            pytest.raises(PartitioningError, match="could not get a lock"),
        ):
            archive_older_than(999, today=today)
    finally:
        release.cancel()
        for blocker in blockers:
            blocker.close()
    assert state_of(day) == {"live"}
    archive_older_than(999, today=today)
    assert state_of(day) == {"archived"}


def test_writers_of_other_tenants_lose_nothing_while_a_day_is_archived(citus_cluster):
    today = utc_today()
    day = today - 1100 * DAY
    create_day_partitions(TenantEvent, day, day)
    write_day(day, ["old-tenant"], 30)
    article = Article.objects.create(title="busy")
    written: list[str] = []
    done = threading.Event()

    def writer() -> None:
        try:
            while not done.is_set() or len(written) < 20:
                event = TenantEvent(content_object=article, tenant=f"busy-{len(written) % 5}")
                event.save()
                written.append(str(event.pk))
        finally:
            connections.close_all()

    thread = threading.Thread(target=writer)
    thread.start()
    try:
        wait_for(lambda: len(written) >= 5, "the writer to start")
        rotate(today=today)  # archives the old day (and anything older) meanwhile
    finally:
        done.set()
        thread.join(timeout=120)
    assert state_of(day) == {"archived"}
    stored = TenantEvent.objects.filter(tenant__startswith="busy-", pk__in=written).count()
    assert stored == len(written) > 20
    start, end = day_bounds(today)
    assert ArchivedTenantEvent.objects.filter(timestamp__gte=start, timestamp__lt=end).count() == 0
