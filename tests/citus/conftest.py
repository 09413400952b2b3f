"""The Citus suite: a real coordinator and two workers, started for the session.

Run it as its own pytest session (the Makefile's ``test`` target does)::

    AUDIT_EVENTS_CITUS=1 python -m pytest --ds=tests.settings_citus tests/citus

Every node is a throwaway PostgreSQL 15 with ``shared_preload_libraries =
citus`` (``audit_events.testing.citus.CitusCluster``), run as an unprivileged
user. The Django database is the cluster's database on the coordinator,
migrated once (tests/swapapp's migration 0003 distributes the tenant event
tables); it is used as it is, without pytest-django's per-test flush, so each
test works on its own tenants and days. Without Citus installed, every test is
skipped with the reason.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterator

import psycopg
import pytest

from audit_events.testing.citus import CitusCluster, citus_missing_reason

DAY = datetime.timedelta(days=1)


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    reason = citus_missing_reason()
    if reason:
        for item in items:
            item.add_marker(pytest.mark.skip(reason=reason))


@pytest.fixture(scope="session")
def citus_cluster() -> Iterator[CitusCluster]:
    """A started coordinator + two workers, stopped (and removed) at the end."""
    with CitusCluster(dbname="audit_events", workers=2, shard_count=4) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def django_db_setup(citus_cluster: CitusCluster, django_db_blocker) -> None:  # type: ignore[no-untyped-def]
    """Point Django at the cluster's database on the coordinator and migrate it once."""
    from django.conf import settings
    from django.core.management import call_command
    from django.db import connections

    coordinator = citus_cluster.coordinator
    assert coordinator is not None
    settings.DATABASES["default"].update(
        HOST=coordinator.host, PORT=str(coordinator.port), USER=coordinator.user, PASSWORD=""
    )
    settings.DATABASES["default"]["NAME"] = citus_cluster.dbname
    connections["default"].settings_dict.update(settings.DATABASES["default"])
    connections["default"].close()
    with django_db_blocker.unblock():
        call_command("migrate", verbosity=0, interactive=False)


@pytest.fixture
def cluster_db(django_db_setup: None, django_db_blocker) -> Iterator[None]:  # type: ignore[no-untyped-def]
    """Database access without a per-test transaction or flush (DDL runs on other connections)."""
    from django.db import connections

    with django_db_blocker.unblock():
        yield
        connections.close_all()


def worker_connections(cluster: CitusCluster) -> list[psycopg.Connection]:
    """An autocommit connection to the cluster's database on every worker."""
    return [
        psycopg.connect(node.url_for(cluster.dbname), autocommit=True)
        for node in cluster.worker_nodes
    ]


@pytest.fixture(autouse=True)
def _cluster_logs_on_failure(request, citus_cluster: CitusCluster) -> Iterator[None]:
    """On a failure, show the end of every node's server log (they are removed at the end)."""
    yield
    report = getattr(request.node, "rep_call", None)
    if report is not None and report.failed:
        for node in citus_cluster.nodes:
            print(f"--- server log of {node.port}\n{node.log_tail(30)}")


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]):  # type: ignore[no-untyped-def]
    report = yield
    setattr(item, f"rep_{report.when}", report)
    return report
