"""audit_events on a real Citus cluster: a coordinator and two workers (tests/citus/conftest.py).

The tenant event models of tests/swapapp are distributed by ``tenant`` (its
migration 0003, ``DistributeByColumn``). Each test works on days and tenants of
its own: the database is not flushed between tests.
"""

from __future__ import annotations

import datetime
import re

import psycopg
import pytest
from django.db import connection
from django.test import override_settings

from audit_events.bulk import bulk_create_events
from audit_events.context import AuditContext
from audit_events.distribution import is_distributed
from audit_events.exceptions import PartitioningError
from audit_events.lifecycle import archive_older_than, partition_status, rotate
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.spool import forget_partitioned_days
from audit_events.tamper import verify_archived_days
from tests.citus.conftest import DAY, worker_connections
from tests.fixtures_lifecycle import index_definitions
from tests.swapapp.models import ArchivedTenantEvent, TenantEvent
from tests.testapp.models import Article

pytestmark = pytest.mark.usefixtures("cluster_db")

LIVE, ARCHIVE = "swapapp_tenantevent", "swapapp_archivedtenantevent"


def one(query: str, params: list[object] | None = None) -> object:
    with connection.cursor() as cursor:
        cursor.execute(query, params)
        return cursor.fetchone()[0]


def shard_files(cluster, table: str) -> dict[str, int]:
    """Shard table name -> heap relfilenode of ``table``'s shards, on every worker."""
    files = {}
    for conn in worker_connections(cluster):
        with conn:
            # Citus hides shards from catalog queries of other applications.
            conn.execute("SET citus.show_shards_for_app_name_prefixes TO '*'")
            rows = conn.execute(
                "SELECT relname, relfilenode FROM pg_class WHERE relkind = 'r' AND relname ~ %s",
                [f"^{table}_[0-9]+$"],
            ).fetchall()
            files.update(dict(rows))
    return files


def shard_rows(cluster, table: str) -> int:
    """Rows of ``table``'s shards counted on the workers themselves."""
    total = 0
    for conn in worker_connections(cluster):
        with conn:
            conn.execute("SET citus.show_shards_for_app_name_prefixes TO '*'")
            names = conn.execute(
                "SELECT relname FROM pg_class WHERE relkind = 'r' AND relname ~ %s",
                [f"^{table}_[0-9]+$"],
            ).fetchall()
            for (name,) in names:
                query = psycopg.sql.SQL("SELECT count(*) FROM {}").format(
                    psycopg.sql.Identifier(name)
                )
                total += conn.execute(query).fetchone()[0]
    return total


def write_day(day: datetime.date, tenants: list[str], per_tenant: int) -> None:
    start, _ = day_bounds(day)
    article = Article.objects.create(title=f"citus {day}")
    bulk_create_events(
        TenantEvent(
            content_object=article,
            tenant=tenant,
            timestamp=start + datetime.timedelta(seconds=i),
            content={"n": i},
        )
        for tenant in tenants
        for i in range(per_tenant)
    )


def test_cluster_has_a_coordinator_and_two_workers():
    assert one("SELECT count(*) FROM pg_dist_node WHERE noderole = 'primary' AND groupid > 0") == 2


def test_event_tables_are_distributed_by_tenant_and_colocated():
    assert is_distributed(TenantEvent) and is_distributed(ArchivedTenantEvent)
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT logicalrelid::text, column_to_column_name(logicalrelid, partkey), "
            "colocationid FROM pg_dist_partition WHERE logicalrelid::text IN (%s, %s)",
            [LIVE, ARCHIVE],
        )
        rows = {name: (column, group) for name, column, group in cursor.fetchall()}
        assert rows[LIVE][0] == rows[ARCHIVE][0] == "tenant"
        assert rows[LIVE][1] == rows[ARCHIVE][1]
        assert primary_key(LIVE) == ["tenant", "id", "timestamp"]
        # The archive parent has no index of its own (its ATTACH stays flat); its days do.
        assert index_definitions(ARCHIVE) == []


def primary_key(table: str) -> list[str] | None:
    return one(
        "SELECT array_agg(a.attname ORDER BY k.n) FROM pg_constraint c "
        "CROSS JOIN LATERAL unnest(c.conkey) WITH ORDINALITY k(attnum, n) "
        "JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum "
        "WHERE c.conrelid = %s::regclass AND c.contype = 'p'",
        [table],
    )


def test_new_day_is_distributed_colocated_and_carries_its_bounds_check():
    day = utc_today() + 200 * DAY
    (name,) = create_day_partitions(TenantEvent, day, day)
    assert one(
        "SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = %s::regclass", [name]
    ) == one("SELECT colocationid FROM pg_dist_partition WHERE logicalrelid = %s::regclass", [LIVE])
    assert (
        one(
            "SELECT count(*) FROM pg_constraint WHERE conrelid = %s::regclass AND contype = 'c' "
            "AND conname LIKE '%%_bounds'",
            [name],
        )
        == 1
    )
    assert one("SELECT count(*) FROM pg_dist_shard WHERE logicalrelid = %s::regclass", [name]) == 4


def test_create_event_and_bulk_create_events_go_through_the_coordinator(citus_cluster):
    article = Article.objects.create(title="through the coordinator")
    event = AuditContext().create_event(article, action="created")
    copied = bulk_create_events(
        [TenantEvent(content_object=article, tenant=f"bulk-{i % 3}") for i in range(30)]
    )
    assert TenantEvent.objects.get(pk=event.pk).content == {"action": "created"}
    assert TenantEvent.objects.filter(pk__in=[e.pk for e in copied]).count() == 30
    assert TenantEvent.objects.filter(tenant="bulk-1").count() == 10


def test_middleware_records_through_the_coordinator(client):
    before = TenantEvent.objects.filter(url__endswith="/record/").count()
    assert client.post("/record/").status_code == 200
    assert TenantEvent.objects.filter(url__endswith="/record/").count() == before + 1


def test_rotation_archives_days_without_copying_rows(citus_cluster):
    today = utc_today()
    day = today - 400 * DAY
    create_day_partitions(TenantEvent, day, day)
    write_day(day, ["acme", "globex", "initech"], 50)
    name = f"{LIVE}_p{day:%Y%m%d}"
    before = shard_files(citus_cluster, name)
    assert len(before) == 4 and shard_rows(citus_cluster, name) == 150

    with override_settings(AUDIT_ARCHIVE_AFTER_DAYS=399):
        steps = rotate(today=today)

    # Sealed (trigger on the distributed day table, digest through the coordinator), then moved.
    assert [s.action for s in steps if s.day == day] == ["seal", "archive"]
    assert shard_files(citus_cluster, name) == before  # same files on the workers
    assert shard_rows(citus_cluster, name) == 150
    assert ArchivedTenantEvent.objects.filter(timestamp__date=day).count() == 150
    assert {s.state for s in partition_status() if s.day == day} == {"archived"}
    assert verify_archived_days(days=[day]) == []
    # The day kept its own key and lookup indexes (the archive parent has none).
    assert primary_key(name) == ["tenant", "id", "timestamp"]
    assert index_definitions(name) == index_definitions(LIVE)


def test_rotation_expires_archived_days(citus_cluster):
    today = utc_today()
    day = today - 500 * DAY
    create_day_partitions(TenantEvent, day, day)
    write_day(day, ["acme"], 5)
    archive_older_than(499, today=today)
    name = f"{LIVE}_p{day:%Y%m%d}"
    assert len(shard_files(citus_cluster, name)) == 4
    with override_settings(AUDIT_ARCHIVE_AFTER_DAYS=450, AUDIT_ARCHIVE_RETENTION_DAYS=499):
        steps = rotate(today=today)
    assert ("expire", day) in [(s.action, s.day) for s in steps]
    assert shard_files(citus_cluster, name) == {}
    assert not [s for s in partition_status() if s.day == day]


def test_plan_sends_plain_detach_and_attach_in_one_bounded_transaction():
    today = utc_today()
    day = today - 600 * DAY
    create_day_partitions(TenantEvent, day, day)
    (step,) = [
        s
        for s in archive_older_than(599, today=today, dry_run=True)
        if s.day == day and s.action == "archive"
    ]
    assert step.detail.startswith("detach from")
    with connection.cursor() as cursor:
        cursor.execute("SET lock_timeout = '2s'")  # as docs/operations.md tells DBAs
        cursor.execute(
            "SELECT s FROM audit_events_maintenance_statements(%s, %s, %s) AS s",
            [LIVE, ARCHIVE, today - 599 * DAY],
        )
        statements = [s for (s,) in cursor.fetchall()]
    detach = next(
        i for i, s in enumerate(statements) if f"DETACH PARTITION public.{LIVE}_p{day:%Y%m%d}" in s
    )
    assert statements[detach - 3 : detach] == [
        "BEGIN",
        "SET LOCAL statement_timeout = '2s'",
        "SET LOCAL citus.multi_shard_modify_mode = 'sequential'",
    ]
    assert not statements[detach].endswith("CONCURRENTLY")
    assert statements[detach + 1].startswith(f"ALTER TABLE public.{ARCHIVE} ATTACH PARTITION")
    assert statements[detach + 2].startswith("INSERT INTO public.audit_events_archivedday")
    assert statements[detach + 3] == "COMMIT"
    archive_older_than(599, today=today)  # leave nothing to the next test


def test_one_tenant_one_day_query_touches_one_shard_and_one_partition():
    day = utc_today()
    start, end = day_bounds(day)
    query = TenantEvent.objects.filter(tenant="acme", timestamp__gte=start, timestamp__lt=end)
    plan = query.explain(verbose=True)
    assert "Task Count: 1" in plan
    partitions = set(re.findall(rf"\b({LIVE}_p[0-9]{{8}})_[0-9]+\b", plan))
    assert partitions == {f"{LIVE}_p{day:%Y%m%d}"}


def test_append_only_guard_refuses_changes_through_the_coordinator():
    from django.db import ProgrammingError, transaction

    event = TenantEvent(content_object=Article.objects.create(title="guarded"), tenant="acme")
    event.save()
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        TenantEvent.objects.filter(tenant="acme", pk=event.pk).update(username="x")


def test_event_without_a_partition_is_spooled_then_drained():
    day = utc_today() - 700 * DAY
    start, _ = day_bounds(day)
    event = TenantEvent(
        content_object=Article.objects.create(title="late"), tenant="acme", timestamp=start
    )
    event.save()  # no partition for that day: kept in the (coordinator-local) spool
    forget_partitioned_days()
    assert not TenantEvent.objects.filter(pk=event.pk).exists()
    rotate(today=utc_today())
    assert ArchivedTenantEvent.objects.filter(pk=event.pk).exists()


def test_archive_write_without_a_partition_names_our_table():
    day = utc_today() - 800 * DAY
    event = ArchivedTenantEvent(
        content_object=Article.objects.create(title="x"),
        tenant="acme",
        timestamp=day_bounds(day)[0],
    )
    with pytest.raises(PartitioningError, match=ARCHIVE) as raised:
        event.save()
    assert "_10" not in str(raised.value).split("\n")[0]


def test_allow_changes_reaches_the_guard_on_the_workers():
    from audit_events.guard import allow_changes

    event = TenantEvent(content_object=Article.objects.create(title="gdpr"), tenant="erase-me")
    event.save()
    with allow_changes():
        TenantEvent.objects.filter(tenant="erase-me", pk=event.pk).update(username="erased")
    assert TenantEvent.objects.get(pk=event.pk).username == "erased"


def test_an_error_raised_on_a_worker_names_our_table_not_a_shard():
    from django.db import IntegrityError

    first = TenantEvent(content_object=Article.objects.create(title="twice"), tenant="dup")
    first.save()
    again = TenantEvent(
        id=first.id,
        tenant="dup",
        timestamp=first.timestamp,
        content_type=first.content_type,
        object_id=first.object_id,
    )
    with pytest.raises(IntegrityError, match=f'"{LIVE}_') as raised:
        again.save()
    assert not re.search(r"_[0-9]{6,}\"", str(raised.value))
    assert re.search(r"_[0-9]{6,}\"", str(raised.value.__cause__))  # what the worker said
