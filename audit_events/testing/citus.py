"""A throwaway Citus cluster (a coordinator and workers) for tests and benchmarks.

Each node is an ``EmbeddedPostgres`` started with ``shared_preload_libraries =
citus`` (so, as root, it runs as the unprivileged ``postgres`` user like the
single test server). ``start()`` creates one database on every node, installs
the extension in each, registers the coordinator and adds the workers, so that
tables distributed from the coordinator get their shards on the workers.

Citus is not vendored: it must be installed into the PostgreSQL whose binaries
the nodes run (``citus_installed()``; the project's CI builds it from a source
archive with ``../shared/citus/install.sh``, see the Makefile's ``test`` target).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field
from pathlib import Path

import psycopg

from audit_events.testing.postgres import EmbeddedPostgres, EmbeddedPostgresError, find_bindir

__all__ = ["CitusCluster", "citus_missing_reason"]

#: The PostgreSQL major Citus is built for here (13.2 supports 15 to 17).
CITUS_PG_MAJOR = 15


def citus_missing_reason(bindir: Path | None = None) -> str | None:
    """Why a Citus cluster cannot be started here, or ``None`` when it can."""
    try:
        bindir = bindir or find_bindir(CITUS_PG_MAJOR)
    except EmbeddedPostgresError as exc:
        return f"no PostgreSQL {CITUS_PG_MAJOR} server binaries: {exc}"
    library = bindir.parent / "lib" / "citus.so"
    if not library.exists():
        return (
            f"Citus is not installed into {bindir.parent} ({library} is missing): build it "
            "with ../shared/citus/install.sh (as root), or run `make test`, which does."
        )
    return None


@dataclass
class CitusCluster:
    """A coordinator and ``workers`` worker nodes on 127.0.0.1, each on a free port.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.

    Attributes:
        dbname: the database created on every node (Citus metadata is per database).
        workers: how many worker nodes.
        shard_count: ``citus.shard_count`` on the coordinator (shards per table).
    """

    dbname: str = "audit_events"
    workers: int = 2
    shard_count: int = 4
    server_settings: dict[str, str] = field(default_factory=dict)
    coordinator: EmbeddedPostgres | None = field(default=None, init=False)
    worker_nodes: list[EmbeddedPostgres] = field(default_factory=list, init=False)

    @property
    def nodes(self) -> list[EmbeddedPostgres]:
        """Every started node, the coordinator first."""
        return [n for n in (self.coordinator, *self.worker_nodes) if n is not None]

    @property
    def url(self) -> str:
        """A ``postgresql://`` URL of the cluster's database on the coordinator."""
        if self.coordinator is None:
            raise EmbeddedPostgresError("the cluster is not started")
        return self.coordinator.url_for(self.dbname)

    def start(self) -> CitusCluster:
        """Start every node, create the database and the extension, register the workers."""
        reason = citus_missing_reason()
        if reason:
            raise EmbeddedPostgresError(reason)
        bindir = find_bindir(CITUS_PG_MAJOR)
        try:
            self.coordinator = EmbeddedPostgres(
                bindir=bindir, server_settings=self._settings(coordinator=True)
            )
            self.coordinator.start()
            for _ in range(self.workers):
                # Listed before start() so that stop() also cleans up a node that failed.
                self.worker_nodes.append(
                    EmbeddedPostgres(bindir=bindir, server_settings=self._settings())
                )
                self.worker_nodes[-1].start()
            for node in self.nodes:
                _create_database(node, self.dbname)
            self._register()
        except BaseException:
            self.stop()
            raise
        return self

    def stop(self) -> None:
        """Stop every node and remove their data directories."""
        for node in reversed(self.nodes):
            with contextlib.suppress(Exception):
                node.stop()
        self.coordinator, self.worker_nodes = None, []

    def __enter__(self) -> CitusCluster:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def _settings(self, coordinator: bool = False) -> dict[str, str]:
        settings = {
            "shared_preload_libraries": "citus",
            # Each node opens connections to the others; keep room for the tests' own.
            "max_connections": "300",
            "log_lock_waits": "on",
            **self.server_settings,
        }
        if coordinator:
            settings["citus.shard_count"] = str(self.shard_count)
        return settings

    def _register(self) -> None:
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(
                "SELECT citus_set_coordinator_host(%s, %s)",
                [self.coordinator.host, self.coordinator.port],  # type: ignore[union-attr]
            )
            for worker in self.worker_nodes:
                conn.execute("SELECT citus_add_node(%s, %s)", [worker.host, worker.port])


def _create_database(node: EmbeddedPostgres, dbname: str) -> None:
    with psycopg.connect(node.url, autocommit=True) as conn:
        conn.execute(psycopg.sql.SQL("CREATE DATABASE {}").format(psycopg.sql.Identifier(dbname)))
    with psycopg.connect(node.url_for(dbname), autocommit=True) as conn:
        conn.execute("CREATE EXTENSION citus")
