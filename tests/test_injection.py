"""Table, partition and spool names are always quoted: hostile names run nothing.

tests/hostileapp's models have table names full of SQL (quotes, semicolons,
comments, spaces, multi-byte characters, 63 bytes); the canary is the default
event table, which the names try to drop. Names with double quotes (which
Django's own DDL cannot hold) are tested on the shipped SQL directly.
"""

from __future__ import annotations

import datetime
import io

import psycopg
import pytest
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction
from django.test import override_settings
from psycopg import sql

from audit_events.guard import GUARD_FILES, install_statements, is_guarded
from audit_events.lifecycle import partition_status, rotate
from audit_events.models import ArchivedDay
from audit_events.partitions import create_day_partitions, day_bounds, list_partitions, utc_today
from audit_events.spool import drain_day, forget_partitioned_days, spool_table, spooled_days
from audit_events.sqlfiles import read_sql
from audit_events.tamper import DIGEST_FILES, verify_archived_days
from tests.hostileapp.models import (
    ARCHIVE_TABLE,
    LIVE_TABLE,
    HostileArchivedEvent,
    HostileEvent,
)
from tests.testapp.models import Article

DAY = datetime.timedelta(days=1)
FAR_DAY = datetime.date(2001, 2, 3)
HOSTILE = {
    "AUDIT_EVENT_MODEL": "hostileapp.HostileEvent",
    "AUDIT_EVENT_ARCHIVE_MODEL": "hostileapp.HostileArchivedEvent",
}


def relnames(pattern_oids_of: str) -> list[str]:
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_inherits AS i JOIN pg_class AS c ON c.oid = i.inhrelid "
            "WHERE i.inhparent = %s::regclass ORDER BY 1",
            [connection.ops.quote_name(pattern_oids_of)],
        )
        return [row[0] for row in cursor.fetchall()]


def canary_is_alive() -> bool:
    with connection.cursor() as cursor:
        cursor.execute("SELECT to_regclass('audit_events_auditevent') IS NOT NULL")
        return bool(cursor.fetchone()[0])


def event(model, day=None, **fields):
    article = Article.objects.create(title="injection")
    when = day_bounds(day)[0] if day else None
    made = model(content_object=article, **({"timestamp": when} if when else {}), **fields)
    made.save()
    return made


# --- Through Django: migration, partitions, events, spool, guard ------------------------

pytestmark = pytest.mark.django_db


def test_migration_created_the_tables_under_their_exact_names():
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT relname, relkind FROM pg_class WHERE relname IN (%s, %s) ORDER BY relname",
            [LIVE_TABLE, ARCHIVE_TABLE],
        )
        assert cursor.fetchall() == sorted([(LIVE_TABLE, "p"), (ARCHIVE_TABLE, "p")])
    assert canary_is_alive()
    assert is_guarded(HostileEvent) and is_guarded(HostileArchivedEvent)


def test_premade_partitions_and_spool_of_a_63_byte_name_are_shortened_not_truncated():
    names = relnames(LIVE_TABLE)
    assert len(names) == 16
    assert all(len(n.encode()) <= 63 and n.startswith("audit_events_") for n in names)
    assert spool_table(HostileEvent).startswith("audit_events_")
    assert len(spool_table(HostileEvent).encode()) <= 63


def test_partition_of_a_hostile_name_keeps_the_name_whole():
    create_day_partitions(HostileArchivedEvent, FAR_DAY, FAR_DAY)
    assert relnames(ARCHIVE_TABLE) == [f"{ARCHIVE_TABLE}_p20010203"]
    (info,) = list_partitions(HostileArchivedEvent)
    assert info.day == FAR_DAY
    assert canary_is_alive()


def test_events_round_trip_through_hostile_tables():
    saved = event(HostileEvent, content={"name": LIVE_TABLE}, username="o'brien; --")
    stored = HostileEvent.objects.get(pk=saved.pk)
    assert (stored.content, stored.username) == ({"name": LIVE_TABLE}, "o'brien; --")
    create_day_partitions(HostileArchivedEvent, FAR_DAY, FAR_DAY)
    archived = event(HostileArchivedEvent, FAR_DAY, url="/x'); DROP TABLE y; --")
    assert HostileArchivedEvent.objects.get(pk=archived.pk).url == "/x'); DROP TABLE y; --"
    assert canary_is_alive()


def test_spool_of_a_hostile_table_keeps_and_drains_events():
    forget_partitioned_days()
    spooled = event(HostileEvent, FAR_DAY, content={"late": True})
    assert spooled_days(HostileEvent, "default") == [FAR_DAY]
    create_day_partitions(HostileEvent, FAR_DAY, FAR_DAY)
    assert drain_day(HostileEvent, HostileEvent, FAR_DAY, "default") == 1
    assert HostileEvent.objects.get(pk=spooled.pk).content == {"late": True}
    assert canary_is_alive()


def test_guard_on_hostile_tables_refuses_changes():
    saved = event(HostileEvent)
    with pytest.raises(ProgrammingError, match="append-only"), transaction.atomic():
        HostileEvent.objects.filter(pk=saved.pk).update(username="x")


# --- Rotation, status, digests and verify on hostile tables -----------------------------


@pytest.fixture
def hostile_layout(transactional_db):
    """The hostile models as the active ones; their layout restored afterwards."""
    with override_settings(**HOSTILE):
        yield
        with connection.cursor() as cursor:
            for status in partition_status():
                cursor.execute(
                    sql.SQL("DROP TABLE {}")
                    .format(sql.SQL(status.table))
                    .as_string(cursor.connection)
                )
        create_day_partitions(HostileEvent, utc_today() - DAY, utc_today() + 14 * DAY)
        forget_partitioned_days()


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("hostile_layout")
def test_rotation_archive_digest_and_verify_work_on_hostile_tables():
    old = utc_today() - 120 * DAY
    create_day_partitions(HostileEvent, old, old)
    saved = event(HostileEvent, old)
    steps = rotate()
    assert ("archive", old) in [(s.action, s.day) for s in steps]
    assert HostileArchivedEvent.objects.get(pk=saved.pk).object_id == str(saved.object_id)
    assert ArchivedDay.objects.get(archive_table=ARCHIVE_TABLE, day=old).row_count == 1
    assert verify_archived_days() == []
    out = io.StringIO()
    call_command("audit_partitions", stdout=out)
    assert "archived" in out.getvalue()
    call_command("verify_audit_events", stdout=io.StringIO())
    assert canary_is_alive()
    with connection.cursor() as cursor:  # nothing leaked into the default table
        cursor.execute("SELECT count(*) FROM audit_events_auditevent")
        assert cursor.fetchone()[0] == 0


# --- The shipped SQL with names Django cannot even create --------------------------------

DOUBLE_QUOTED = 'ev"; DROP TABLE canary; --'
DOUBLE_QUOTED_ARCHIVE = 'arch"""); DROP TABLE canary; --'


@pytest.fixture
def raw_db(sql_db: psycopg.Connection) -> psycopg.Connection:
    for name in GUARD_FILES + DIGEST_FILES:
        sql_db.execute(read_sql(name))
    sql_db.execute("CREATE TABLE canary (id int)")
    for table in (DOUBLE_QUOTED, DOUBLE_QUOTED_ARCHIVE):
        sql_db.execute(
            sql.SQL(
                'CREATE TABLE {} (id uuid NOT NULL, "timestamp" timestamptz NOT NULL, note text, '
                'PRIMARY KEY (id, "timestamp")) PARTITION BY RANGE ("timestamp")'
            ).format(sql.Identifier(table))
        )
        for statement in install_statements(table):
            sql_db.execute(statement)
    return sql_db


def regclass(table: str) -> str:
    return sql.Identifier(table).as_string()


@pytest.mark.django_db(transaction=False)
def test_sql_functions_quote_names_with_double_quotes(raw_db):
    live, archive = regclass(DOUBLE_QUOTED), regclass(DOUBLE_QUOTED_ARCHIVE)
    old, today = datetime.date(2020, 1, 1), datetime.date(2020, 6, 1)
    raw_db.execute(
        "SELECT audit_events_create_day_partitions(%s::regclass, %s, %s)", [live, old, old + DAY]
    )
    raw_db.execute(
        sql.SQL("INSERT INTO {} VALUES (audit_events_uuid7(%s), %s, 'x')").format(
            sql.Identifier(DOUBLE_QUOTED)
        ),
        [day_bounds(old)[0], day_bounds(old)[0]],
    )
    statements = raw_db.execute(
        "SELECT audit_events_maintenance_statements(%s::regclass, %s::regclass, %s, %s, %s)",
        [live, archive, today - 90 * DAY, today, today + 2 * DAY],
    ).fetchall()
    for (statement,) in statements:
        raw_db.execute(statement)
    kinds = raw_db.execute(
        "SELECT state, count(*) FROM audit_events_partition_status(%s::regclass, %s::regclass) "
        "GROUP BY state ORDER BY state",
        [live, archive],
    ).fetchall()
    assert kinds == [("archived", 2), ("live", 3)]
    assert (
        raw_db.execute(
            "SELECT * FROM audit_events_day_digest(%s::regclass, %s)", [archive, old]
        ).fetchone()[0]
        == 1
    )
    assert raw_db.execute("SELECT to_regclass('canary') IS NOT NULL").fetchone() == (True,)
    with pytest.raises(psycopg.errors.InsufficientPrivilege, match="append-only"):
        raw_db.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(DOUBLE_QUOTED_ARCHIVE)))


@pytest.mark.django_db(transaction=False)
def test_grant_function_quotes_role_and_table_names(raw_db):
    role = 'app"; DROP TABLE canary; --'
    raw_db.execute(sql.SQL("CREATE ROLE {}").format(sql.Identifier(role)))
    try:
        raw_db.execute(sql.SQL("CREATE TABLE {} (id int)").format(sql.Identifier("spool ' ;")))
        raw_db.execute(
            "SELECT audit_events_grant_app_role(%s::regrole, %s::regclass, %s::regclass, "
            "%s::regclass, 'canary'::regclass)",
            [
                regclass(role),
                regclass(DOUBLE_QUOTED),
                regclass(DOUBLE_QUOTED_ARCHIVE),
                regclass("spool ' ;"),
            ],
        )
        held = raw_db.execute(
            "SELECT has_table_privilege(%s::regrole, %s::regclass, 'INSERT'), "
            "has_table_privilege(%s::regrole, %s::regclass, 'DELETE')",
            [regclass(role), regclass(DOUBLE_QUOTED), regclass(role), regclass(DOUBLE_QUOTED)],
        ).fetchone()
        assert held == (True, False)
        assert raw_db.execute("SELECT to_regclass('canary') IS NOT NULL").fetchone() == (True,)
    finally:
        raw_db.execute(sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
        raw_db.execute(sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))
