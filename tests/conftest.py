"""Test database wiring: a real PostgreSQL, never SQLite or a mock.

With ``DATABASE_URL`` set, the suite uses that server. Otherwise it starts a
throwaway one (``audit_events.testing.EmbeddedPostgres``), which also works as
root (CI) by running the server as an unprivileged user. pytest-postgresql's
``postgresql_noproc`` sits on top of either, and pytest-django's test database
is created on the same server.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from dataclasses import dataclass
from urllib.parse import unquote, urlsplit

import psycopg
import pytest
from pytest_postgresql import factories

from audit_events.sqlfiles import FUNCTION_FILES, read_sql
from audit_events.testing import EmbeddedPostgres

# tests/swapped/ needs the event models swapped at start-up, so it runs in a
# second session with --ds=tests.settings_swapped (see the Makefile's test target).
# tests/nomigrations/ runs in a third session, with --nomigrations; tests/citus/ on a
# Citus cluster of its own (--ds=tests.settings_citus, AUDIT_EVENTS_CITUS=1).
collect_ignore = [
    directory
    for directory, variable in (
        ("swapped", "AUDIT_EVENTS_SWAPPED"),
        ("nomigrations", "AUDIT_EVENTS_NOMIGRATIONS"),
        ("original", "AUDIT_EVENTS_ORIGINAL"),
        ("citus", "AUDIT_EVENTS_CITUS"),
    )
    if not os.environ.get(variable)
]


@dataclass
class ExistingServer:
    """The attributes pytest-postgresql's ``depends_on`` reads, from a URL."""

    host: str
    port: int
    user: str
    password: str
    options: str = ""
    maintenance_dbname: str = "postgres"
    template_dbname: str | None = None

    @classmethod
    def from_url(cls, url: str) -> ExistingServer:
        parts = urlsplit(url)
        return cls(
            host=parts.hostname or "127.0.0.1",
            port=parts.port or 5432,
            user=unquote(parts.username or "postgres"),
            password=unquote(parts.password or ""),
            maintenance_dbname=(parts.path.lstrip("/") or "postgres"),
        )


@pytest.fixture(scope="session")
def audit_pg_server() -> Iterator[ExistingServer | EmbeddedPostgres]:
    """The PostgreSQL server of this test run."""
    url = os.environ.get("DATABASE_URL")
    if url:
        yield ExistingServer.from_url(url)
        return
    with EmbeddedPostgres() as server:
        yield server


postgresql_noproc = factories.postgresql_noproc(depends_on="audit_pg_server")
postgresql = factories.postgresql("postgresql_noproc")


@pytest.fixture(scope="session")
def django_db_modify_db_settings(postgresql_noproc) -> None:  # type: ignore[no-untyped-def]
    """Point Django's test database at the session's server."""
    from django.conf import settings

    settings.DATABASES["default"].update(
        HOST=postgresql_noproc.host,
        PORT=str(postgresql_noproc.port),
        USER=postgresql_noproc.user,
        PASSWORD=postgresql_noproc.password or "",
    )


@pytest.fixture
def sql_db(postgresql: psycopg.Connection) -> psycopg.Connection:
    """A fresh, empty database with the shipped SQL functions installed (autocommit)."""
    postgresql.autocommit = True
    for name in FUNCTION_FILES:
        postgresql.execute(read_sql(name))
    return postgresql
