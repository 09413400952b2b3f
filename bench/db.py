"""The benchmark's PostgreSQL: a server, a migrated template, one fresh database per scenario.

With ``DATABASE_URL`` unset, a throwaway server is started
(``audit_events.testing.EmbeddedPostgres``). Either way the benchmark works
in databases of its own (``CREATE DATABASE ... TEMPLATE``), dropped at the end,
so scenarios never see each other's partitions and nothing else is touched.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from dataclasses import dataclass, field
from urllib.parse import urlsplit, urlunsplit

import psycopg
from psycopg import sql

__all__ = ["Server", "configure_django", "server"]


@dataclass
class Server:
    """A PostgreSQL server the benchmark may create and drop databases on."""

    url: str
    embedded: bool
    prefix: str = field(default_factory=lambda: f"audit_events_bench_{os.getpid()}")
    created: list[str] = field(default_factory=list)

    @property
    def template(self) -> str:
        return f"{self.prefix}_template"

    def url_for(self, dbname: str) -> str:
        """The URL of database ``dbname`` on this server."""
        parts = urlsplit(self.url)
        return urlunsplit(parts._replace(path=f"/{dbname}"))

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create database ``prefix_name`` (from ``template``); return its URL."""
        dbname = f"{self.prefix}_{name}"
        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(dbname))
        if template:
            statement = sql.SQL("{} TEMPLATE {}").format(statement, sql.Identifier(template))
        with psycopg.connect(self.url, autocommit=True) as conn:
            conn.execute(statement)
        self.created.append(dbname)
        return self.url_for(dbname)

    def drop_databases(self) -> None:
        """Drop every database this run created."""
        with psycopg.connect(self.url, autocommit=True) as conn:
            for dbname in reversed(self.created):
                conn.execute(
                    sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(
                        sql.Identifier(dbname)
                    )
                )
        self.created.clear()


@contextlib.contextmanager
def server(url: str | None) -> Iterator[Server]:
    """The server at ``url``, or a throwaway embedded one; databases dropped on exit."""
    if url:
        bench_server = Server(url=url, embedded=False)
        try:
            yield bench_server
        finally:
            bench_server.drop_databases()
        return
    from audit_events.testing import EmbeddedPostgres

    with EmbeddedPostgres() as embedded:
        yield Server(url=embedded.url, embedded=True)


def configure_django(url: str) -> None:
    """Point Django (``bench.settings``) at ``url``, setting Django up on first use.

    Later calls switch the ``default`` connection to another database: the old
    connection is closed and every per-process cache that remembers database
    state (partitions known to exist, content types) is emptied.
    """
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "bench.settings")
    import django
    from django.apps import apps
    from django.conf import settings
    from django.db import connections

    parts = urlsplit(url)
    database = {
        "NAME": parts.path.lstrip("/"),
        "HOST": parts.hostname or "127.0.0.1",
        "PORT": str(parts.port or 5432),
        "USER": parts.username or "postgres",
        "PASSWORD": parts.password or "",
    }
    if not apps.ready:
        settings.DATABASES["default"].update(database)
        django.setup()
        return
    connections.close_all()
    connections["default"].settings_dict.update(database)
    from django.contrib.contenttypes.models import ContentType

    from audit_events.spool import forget_partitioned_days

    ContentType.objects.clear_cache()
    forget_partitioned_days()


def migrate() -> None:
    """Run the migrations on the current ``default`` database."""
    from django.core.management import call_command

    call_command("migrate", verbosity=0, interactive=False)
