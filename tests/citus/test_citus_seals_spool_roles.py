"""Sealing, the spool and drain, and the application role, on the Citus cluster."""

from __future__ import annotations

import datetime
import threading

import psycopg
import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import override_settings
from psycopg import errors, sql

from audit_events.bulk import bulk_create_events
from audit_events.exceptions import PartitioningError
from audit_events.ids import uuid7_for
from audit_events.lifecycle import archive_older_than, partition_status, rotate
from audit_events.models import ArchivedDay, QuarantinedEvent, SealedDay
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.spool import spool_table
from audit_events.tamper import verify_days
from tests.citus.conftest import DAY, worker_connections
from tests.citus.test_citus_cluster import ARCHIVE, LIVE, one, primary_key, write_day
from tests.fixtures_lifecycle import index_definitions
from tests.swapapp.models import ArchivedTenantEvent, TenantEvent
from tests.testapp.models import Article

pytestmark = pytest.mark.usefixtures("cluster_db")


def events_of(day: datetime.date, tenant: str) -> list[TenantEvent]:
    article = Article.objects.create(title=f"{tenant} {day}")
    start, _ = day_bounds(day)
    return [
        TenantEvent(
            content_object=article,
            tenant=tenant,
            timestamp=start + datetime.timedelta(minutes=i),
            content={"n": i},
        )
        for i in range(12)
    ]


def spooled(day: datetime.date) -> int:
    start, end = day_bounds(day)
    return one(
        sql.SQL("SELECT count(*) FROM {} WHERE timestamp >= %s AND timestamp < %s")
        .format(sql.Identifier(spool_table(TenantEvent)))
        .as_string(connection.connection),
        [start, end],
    )


def test_rotation_seals_a_closed_day_which_verifies_and_refuses_a_late_event():
    today = utc_today()
    day = today - 1200 * DAY
    create_day_partitions(TenantEvent, day, day)
    write_day(day, ["seal-a", "seal-b"], 10)
    with override_settings(AUDIT_ARCHIVE_AFTER_DAYS=1300):  # sealed, left live
        steps = rotate(today=today)
    assert ("seal", day) in [(s.action, s.day) for s in steps]
    assert SealedDay.objects.get(event_table=LIVE, day=day).row_count == 20
    assert verify_days(days=[day]) == []

    late = events_of(day, "seal-a")[0]
    late.save()  # the sealed day's shards refuse it: kept in the spool, not lost
    assert not TenantEvent.objects.filter(pk=late.pk).exists()
    with override_settings(AUDIT_ARCHIVE_AFTER_DAYS=1300):
        steps = rotate(today=today)

    assert ("quarantine", day) in [(s.action, s.day) for s in steps]
    assert QuarantinedEvent.objects.filter(event_id=str(late.pk)).exists()
    assert TenantEvent.objects.filter(timestamp__date=day).count() == 20  # not folded in
    assert SealedDay.objects.get(event_table=LIVE, day=day).row_count == 20
    (problem,) = verify_days(days=[day])
    assert (problem.day, problem.problem) == (day, "amended")
    assert str(late.pk) in problem.detail
    archive_older_than(1199, today=today)  # the seal moves with the day, and still verifies
    assert {s.state for s in partition_status() if s.day == day} == {"archived"}
    assert [p.problem for p in verify_days(days=[day])] == ["amended"]


def test_bulk_create_events_for_a_missing_day_is_spooled_then_drained_into_a_new_archive_day():
    today = utc_today()
    day = today - 1300 * DAY
    bulk_create_events(events_of(day, "late-bulk"))  # no partition: all 12 spooled
    assert spooled(day) == 12
    assert not ArchivedTenantEvent.objects.filter(tenant="late-bulk").exists()

    steps = rotate(today=today)

    assert ("drain", day) in [(s.action, s.day) for s in steps]
    assert spooled(day) == 0
    assert ArchivedTenantEvent.objects.filter(tenant="late-bulk").count() == 12
    assert ArchivedDay.objects.filter(archive_table=ARCHIVE, day=day).exists()
    # The drain made the day in the index-less archive: it has the live table's
    # key and indexes, and is distributed colocated with the live table.
    name = next(s.table for s in partition_status() if s.day == day)
    assert primary_key(name) == ["tenant", "id", "timestamp"]
    assert index_definitions(name) == index_definitions(LIVE)
    colocation = "SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = %s::regclass"
    assert one(colocation, [name]) == one(colocation, [LIVE])
    assert verify_days(days=[day]) == []  # sealed by the same run, after the drain


def test_bulk_create_events_makes_a_missing_day_on_the_spot_on_the_cluster():
    today = utc_today()
    old, new = today - 1400 * DAY, today + 300 * DAY
    with override_settings(AUDIT_CREATE_DAYS_ON_WRITE=True):
        bulk_create_events([*events_of(old, "on-the-spot"), *events_of(new, "on-the-spot")])
    assert spooled(old) == spooled(new) == 0
    assert ArchivedTenantEvent.objects.filter(tenant="on-the-spot").count() == 12
    assert TenantEvent.objects.filter(tenant="on-the-spot").count() == 12
    states = {s.day: (s.state, s.table) for s in partition_status() if s.day in (old, new)}
    assert states[old][0] == "archived" and states[new][0] == "live"
    assert index_definitions(states[old][1]) == index_definitions(LIVE)
    assert ArchivedDay.objects.filter(archive_table=ARCHIVE, day=old).exists()


def test_the_drain_gives_up_on_a_lock_held_on_a_worker_and_keeps_the_events_spooled(
    citus_cluster,
):
    """Making the drained day is bounded on the workers like every maintenance step."""
    today = utc_today()
    day = today - 1500 * DAY
    bulk_create_events(events_of(day, "drain-blocked"))
    assert spooled(day) == 12
    blockers = worker_connections(citus_cluster)
    for conn in blockers:  # every shard of the live parent, on every worker
        conn.execute("SET citus.show_shards_for_app_name_prefixes TO '*'")
        conn.execute("SET citus.enable_manual_changes_to_shards TO on")
        shards = conn.execute(
            "SELECT relname FROM pg_class WHERE relkind = 'p' AND relname ~ %s",
            [f"^{LIVE}_[0-9]+$"],
        ).fetchall()
        conn.autocommit = False
        for (shard,) in shards:
            conn.execute(
                sql.SQL("LOCK TABLE {} IN SHARE UPDATE EXCLUSIVE MODE").format(
                    sql.Identifier(shard)
                )
            )
    # Should the timeout not reach the workers, the wait ends here and the test fails.
    releases = [threading.Timer(60, conn.cancel) for conn in blockers]
    for release in releases:
        release.start()
    try:
        with (
            override_settings(AUDIT_LOCK_TIMEOUT_MS=300, AUDIT_DDL_RETRIES=1),
            pytest.raises(PartitioningError, match="could not get a lock"),
        ):
            archive_older_than(5000, today=today)  # the day is young enough to be live
    finally:
        for release in releases:
            release.cancel()
        for blocker in blockers:
            blocker.close()
    assert spooled(day) == 12  # nothing lost, nothing half-made
    assert not [s for s in partition_status() if s.day == day]
    archive_older_than(5000, today=today)
    assert spooled(day) == 0
    assert TenantEvent.objects.filter(tenant="drain-blocked").count() == 12


APP = "audit_events_citus_app"


@pytest.fixture
def app(citus_cluster):
    """The application role of the two-role setup (sql/grant_app_role.sql), on the cluster."""
    with connection.cursor() as cursor:
        # Citus creates the role on the workers too: it connects to them as the role.
        cursor.execute(sql.SQL("CREATE ROLE {} LOGIN").format(sql.Identifier(APP)).as_string(None))
        cursor.execute(
            "SELECT audit_events_grant_app_role(%s::regrole, %s::regclass, %s::regclass, "
            "%s::regclass, %s::regclass)",
            [APP, LIVE, ARCHIVE, spool_table(TenantEvent), ArchivedDay._meta.db_table],
        )
    coordinator = citus_cluster.coordinator
    try:
        with psycopg.connect(
            host=coordinator.host,
            port=coordinator.port,
            dbname=citus_cluster.dbname,
            user=APP,
            autocommit=True,
        ) as conn:
            yield conn
    finally:
        with connection.cursor() as cursor:
            for statement in ("DROP OWNED BY {}", "DROP ROLE {}"):
                cursor.execute(sql.SQL(statement).format(sql.Identifier(APP)).as_string(None))


def insert_as(conn, table: str, when: datetime.datetime, tenant: str) -> None:
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, timestamp, tenant, username, url, query_params, post_data, "
            "headers, object_id, content, content_type_id) VALUES "
            "(%s, %s, %s, '', '', '{{}}', '{{}}', '{{}}', '1', '{{}}', %s)"
        ).format(sql.Identifier(table)),
        [uuid7_for(when), when, tenant, ContentType.objects.get_for_model(Article).pk],
    )


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {live} SET username = 'forged' WHERE tenant = 'app-role'",
        "DELETE FROM {live} WHERE tenant = 'app-role'",
        "TRUNCATE {live}",
        "UPDATE {archive} SET username = 'forged'",
        "DELETE FROM {archive}",
        "DELETE FROM {ledger}",
    ],
)
def test_app_role_writes_and_reads_through_the_coordinator_and_changes_nothing(app, statement):
    now = datetime.datetime.now(datetime.UTC)
    insert_as(app, LIVE, now, "app-role")  # its shards on the workers are written as the role
    assert app.execute(
        sql.SQL("SELECT count(*) > 0 FROM {} WHERE tenant = 'app-role'").format(
            sql.Identifier(LIVE)
        )
    ).fetchone() == (True,)
    app.execute(sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(ARCHIVE)))
    query = sql.SQL(statement).format(
        live=sql.Identifier(LIVE),
        archive=sql.Identifier(ARCHIVE),
        ledger=sql.Identifier(ArchivedDay._meta.db_table),
    )
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute(query)
    with pytest.raises(errors.InsufficientPrivilege):
        insert_as(app, ARCHIVE, now, "app-role")


def test_app_role_may_spool_an_event_whose_day_has_no_partition(app):
    when = day_bounds(utc_today() - 1600 * DAY)[0]
    spool = sql.Identifier(spool_table(TenantEvent))
    event_id = uuid7_for(when)
    app.execute(
        sql.SQL("INSERT INTO {} (id, timestamp, row) VALUES (%s, %s, '{{}}')").format(spool),
        [event_id, when],
    )
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute(sql.SQL("DELETE FROM {}").format(spool))
    with connection.cursor() as cursor:  # not a valid event: leave nothing to the next drain
        cursor.execute(
            sql.SQL("DELETE FROM {} WHERE id = %s").format(spool).as_string(None), [event_id]
        )
        assert cursor.rowcount == 1
