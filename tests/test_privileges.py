"""The two-role setup: the application role may only INSERT and SELECT.

The maintenance role owns the tables and partitions and runs rotation; the
application role connects on its own (psycopg and a Django alias) and is shown
to be refused every way of changing what is stored (docs/reliability.md).
"""

from __future__ import annotations

import datetime
import uuid
from collections.abc import Iterator

import psycopg
import pytest
from django.db import ProgrammingError, connection, connections
from psycopg import errors, sql

from audit_events.ids import timestamp_of, uuid7_for
from audit_events.lifecycle import partition_status
from audit_events.models import (
    ArchivedAuditEvent,
    ArchivedDay,
    AuditEvent,
    QuarantinedEvent,
    SealedDay,
)
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.spool import spool_table
from tests.fixtures_lifecycle import (
    DAY,
    content_type_id,
    fresh_layout,  # noqa: F401 - fixture
    insert_rows,
)
from tests.processes import process_env, run_python

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]

APP, MAINTAINER = "audit_events_test_app", "audit_events_test_maintainer"
PASSWORD = "audit-events-test-only"  # a throwaway role on the test server
LIVE, ARCHIVE = AuditEvent._meta.db_table, ArchivedAuditEvent._meta.db_table
SPOOL, LEDGER = spool_table(AuditEvent), ArchivedDay._meta.db_table
SEALS, QUARANTINE = SealedDay._meta.db_table, QuarantinedEvent._meta.db_table


def run(cursor, statement, params=()):
    cursor.execute(statement.as_string(cursor.connection), params)


def audit_tables() -> list[str]:
    """Parents, spool, ledger and every day table (regclass text)."""
    tables = [
        sql.Identifier(t).as_string(connection.connection)
        for t in (LIVE, ARCHIVE, SPOOL, LEDGER, SEALS, QUARANTINE)
    ]
    return tables + [s.table for s in partition_status()]


def set_owner(role: str) -> None:
    with connection.cursor() as cursor:
        for table in audit_tables():
            run(
                cursor,
                sql.SQL("ALTER TABLE {} OWNER TO {}").format(sql.SQL(table), sql.Identifier(role)),
            )
        for table in (LEDGER, SEALS, QUARANTINE):
            run(
                cursor,
                sql.SQL("ALTER SEQUENCE {} OWNER TO {}").format(
                    sql.Identifier(f"{table}_id_seq"), sql.Identifier(role)
                ),
            )


def wrapper_for(alias: str, role: str):
    """A Django connection as ``role``, registered as ``alias`` for this thread only.

    Not in settings.DATABASES, so the test framework neither blocks nor flushes it.
    """
    from django.db.backends.postgresql.base import DatabaseWrapper

    settings = {**connection.settings_dict, "USER": role, "PASSWORD": PASSWORD}
    wrapper = DatabaseWrapper(settings, alias)
    connections[alias] = wrapper
    return wrapper


def as_maintainer(code: str) -> str:
    """Run ``code`` in a process connected as the maintenance role (as cron would)."""
    return run_python(code, process_env(MAINTAINER, PASSWORD)).stdout


@pytest.fixture
def roles() -> Iterator[None]:
    """The maintenance role owns every audit table; the app role got grant_app_role()."""
    superuser = connection.get_connection_params()["user"]
    with connection.cursor() as cursor:
        for role in (APP, MAINTAINER):
            run(
                cursor,
                sql.SQL("CREATE ROLE {} LOGIN PASSWORD {}").format(
                    sql.Identifier(role), sql.Literal(PASSWORD)
                ),
            )
        run(
            cursor,
            sql.SQL("GRANT CREATE ON SCHEMA public TO {}").format(sql.Identifier(MAINTAINER)),
        )
    set_owner(MAINTAINER)
    as_maintainer(f"from audit_events.guard import grant_app_role; grant_app_role({APP!r})")
    app = wrapper_for("app", APP)
    try:
        yield
    finally:
        app.close()
        del connections["app"]
        set_owner(superuser)
        with connection.cursor() as cursor:
            for role in (APP, MAINTAINER):
                run(cursor, sql.SQL("DROP OWNED BY {}").format(sql.Identifier(role)))
                run(cursor, sql.SQL("DROP ROLE {}").format(sql.Identifier(role)))


@pytest.fixture
def app(roles) -> Iterator[psycopg.Connection]:
    """A psycopg connection of the application role (autocommit)."""
    params = connection.get_connection_params()
    with psycopg.connect(
        host=params["host"],
        port=params["port"],
        dbname=params["dbname"],
        user=APP,
        password=PASSWORD,
        autocommit=True,
    ) as conn:
        yield conn


def insert_event(conn, table=LIVE, day=None) -> uuid.UUID:
    when = day_bounds(day)[0] if day else datetime.datetime.now(datetime.UTC)
    event_id = uuid7_for(when)
    conn.execute(
        sql.SQL(
            "INSERT INTO {} (id, timestamp, username, url, query_params, post_data, "
            "headers, object_id, content, content_type_id) VALUES "
            "(%s, %s, '', '', '{{}}', '{{}}', '{{}}', '1', '{{}}', %s)"
        ).format(sql.Identifier(table)),
        [event_id, when, content_type_id()],
    )
    return event_id


def test_app_role_can_insert_and_select_events(app):
    event_id = insert_event(app)
    assert app.execute(
        sql.SQL("SELECT count(*) FROM {} WHERE id = %s").format(sql.Identifier(LIVE)), [event_id]
    ).fetchone() == (1,)
    assert app.execute(
        sql.SQL("SELECT count(*) FROM {}").format(sql.Identifier(ARCHIVE))
    ).fetchone() == (0,)


@pytest.mark.parametrize(
    "statement",
    [
        "UPDATE {live} SET username = 'forged'",
        "DELETE FROM {live}",
        "TRUNCATE {live}",
        "DROP TABLE {live}",
        "ALTER TABLE {live} DISABLE TRIGGER ALL",
        "UPDATE {archive} SET username = 'forged'",
        "DELETE FROM {archive}",
        "TRUNCATE {archive}",
        "DELETE FROM {spool}",
        "UPDATE {ledger} SET digest = ''",
        "DELETE FROM {ledger}",
    ],
)
def test_app_role_is_refused_every_change_of_stored_data(app, statement):
    insert_event(app)
    query = sql.SQL(statement).format(
        live=sql.Identifier(LIVE),
        archive=sql.Identifier(ARCHIVE),
        spool=sql.Identifier(SPOOL),
        ledger=sql.Identifier(LEDGER),
    )
    with pytest.raises(errors.InsufficientPrivilege) as info:
        app.execute(query)
    assert "permission denied" in str(info.value) or "must be owner" in str(info.value)
    assert AuditEvent.objects.count() == 1


def test_app_role_cannot_write_the_archive(app):
    day = utc_today() - 200 * DAY
    create_day_partitions(ArchivedAuditEvent, day, day)
    with pytest.raises(errors.InsufficientPrivilege, match="permission denied"):
        insert_event(app, ARCHIVE, day)


def test_app_role_cannot_touch_a_partition_directly(app):
    insert_event(app)
    partition = next(s.table for s in partition_status() if s.day == utc_today())
    for statement in (
        "UPDATE {} SET username = 'x'",
        "DELETE FROM {}",
        "TRUNCATE {}",
        "ALTER TABLE {} NO INHERIT {}",
    ):
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute(sql.SQL(statement).format(sql.SQL(partition), sql.Identifier(LIVE)))


def test_app_role_cannot_open_the_append_only_guard(app):
    insert_event(app)
    with app.transaction():
        app.execute("SET LOCAL audit_events.allow_changes = 'on'")
        with pytest.raises(errors.InsufficientPrivilege):
            app.execute(sql.SQL("DELETE FROM {}").format(sql.Identifier(LIVE)))


def test_app_role_cannot_grant_itself_more(app):
    """PostgreSQL only warns ("no privileges were granted"): check what the role holds."""
    app.execute(
        sql.SQL("GRANT UPDATE, DELETE, TRUNCATE ON {} TO {}").format(
            sql.Identifier(LIVE), sql.Identifier(APP)
        )
    )
    held = app.execute(
        "SELECT p FROM unnest(ARRAY['SELECT', 'INSERT', 'UPDATE', 'DELETE', 'TRUNCATE']) AS p "
        "WHERE has_table_privilege(current_user, %s::regclass, p)",
        [sql.Identifier(LIVE).as_string(app)],
    ).fetchall()
    assert [p for (p,) in held] == ["SELECT", "INSERT"]


def test_django_as_the_app_role_records_events_and_is_refused_changes(roles):
    event = AuditEvent(content_type_id=content_type_id(), object_id="1", content={"a": 1})
    event.save(using="app")
    spooled = AuditEvent(
        content_type_id=content_type_id(),
        object_id="2",
        timestamp=day_bounds(utc_today() - 300 * DAY)[0],
    )
    spooled.save(using="app")  # no partition for that day: kept in the spool
    assert AuditEvent.objects.using("app").get(pk=event.pk).content == {"a": 1}
    with pytest.raises(ProgrammingError, match="permission denied"):
        AuditEvent.objects.using("app").filter(pk=event.pk).update(content={})
    with pytest.raises(ProgrammingError, match="permission denied"):
        AuditEvent.objects.using("app").filter(pk=event.pk).delete()


def test_maintenance_role_rotates_archives_and_drains(app):
    """Rotation as the owner works end to end; the app role keeps writing new days."""
    old = utc_today() - 120 * DAY
    create_day_partitions(AuditEvent, old, old)
    set_owner(MAINTAINER)  # as if the maintenance role had made it
    insert_rows(old, 25)
    AuditEvent(
        content_type_id=content_type_id(), object_id="late", timestamp=day_bounds(old + DAY)[0]
    ).save(using="app")  # spooled
    out = as_maintainer(
        "from audit_events.lifecycle import rotate\n"
        "for step in rotate(): print(step.action, step.day)"
    )
    assert f"archive {old}" in out and f"drain {old + DAY}" in out
    assert ArchivedAuditEvent.objects.count() == 26
    assert ArchivedDay.objects.get(day=old).row_count == 25
    ahead = utc_today() + 20 * DAY
    with pytest.raises(ProgrammingError, match="may not create day tables"):
        create_day_partitions(AuditEvent, ahead, ahead, using="app")
    insert_event(app)  # partitions made by the maintenance role take the app's inserts


# --- Issue 11.1: what the app role can write cannot block maintenance or change history ---


def event_row(event_id: uuid.UUID, when: datetime.datetime, **changes: object) -> dict:
    """A spool row's JSON, as the writer makes it (every column of the live table)."""
    row = {
        "id": str(event_id),
        "timestamp": when.isoformat(),
        "user_id": None,
        "username": "",
        "remote_addr": None,
        "url": "",
        "query_params": {},
        "post_data": {},
        "headers": {},
        "content_type_id": content_type_id(),
        "object_id": "1",
        "content": {},
    }
    return {**row, **changes}


def spool_as_app(app, event_id: uuid.UUID, when: datetime.datetime, row: object) -> None:
    from psycopg.types.json import Jsonb

    app.execute(
        sql.SQL("INSERT INTO {} (id, timestamp, row) VALUES (%s, %s, %s)").format(
            sql.Identifier(SPOOL)
        ),
        [event_id, when, Jsonb(row)],
    )


def rotate_as_maintainer() -> str:
    return as_maintainer(
        "from audit_events.lifecycle import rotate\n"
        "for step in rotate(): print(step.action, step.day, step.detail)"
    )


def quarantined() -> dict[str, str]:
    return dict(QuarantinedEvent.objects.values_list("event_id", "reason"))


def verify_output() -> str:
    from io import StringIO

    from django.core.management import CommandError, call_command

    out = StringIO()
    with pytest.raises(CommandError, match="not verified clean"):
        call_command("verify_audit_events", stdout=out)
    return out.getvalue()


def test_a_spool_row_at_odds_with_its_timestamp_cannot_stop_rotation(app):
    """Issue 11.1: row.timestamp in 1990, column today: once every rotation failed."""
    now = datetime.datetime.now(datetime.UTC)
    good, bad = uuid7_for(now), uuid7_for(now + datetime.timedelta(microseconds=1))
    spool_as_app(app, good, now, event_row(good, now))
    spool_as_app(app, bad, now, event_row(bad, datetime.datetime(1990, 1, 1, tzinfo=datetime.UTC)))
    last = partition_status()[-1].table  # a day to premake, so that the run analyzes
    with connection.cursor() as cursor:
        run(cursor, sql.SQL("DROP TABLE {}").format(sql.SQL(last)))
    out = rotate_as_maintainer()
    assert f"drain {now.date()}" in out and f"quarantine {now.date()}" in out
    assert "analyze" in out and "seal" in out  # the run went on to seal and analyze
    assert AuditEvent.objects.filter(pk=good).exists()
    assert not AuditEvent.objects.filter(pk=bad).exists()
    assert "does not match" in quarantined()[str(bad)]
    assert "quarantined: 1 spooled row(s) held in quarantine" in verify_output()
    assert rotate_as_maintainer().strip() == ""  # nothing left in the way


def test_a_spool_row_reusing_an_archived_id_on_an_archived_day_is_quarantined(app):
    """Issue 11.1: such a row was drained into the archive and its digest re-recorded."""
    old = utc_today() - 120 * DAY
    create_day_partitions(AuditEvent, old, old)
    set_owner(MAINTAINER)
    insert_rows(old, 5)
    rotate_as_maintainer()  # sealed, then archived
    seal = SealedDay.objects.get(day=old)
    victim = app.execute(
        sql.SQL("SELECT id, timestamp FROM {} LIMIT 1").format(sql.Identifier(ARCHIVE))
    ).fetchone()
    spool_as_app(app, victim[0], victim[1], event_row(victim[0], victim[1], content={"x": 1}))
    out = rotate_as_maintainer()
    assert f"quarantine {old}" in out
    assert ArchivedAuditEvent.objects.count() == 5
    assert SealedDay.objects.get(day=old).digest == seal.digest
    assert quarantined() == {str(victim[0]): "late event for a sealed day"}
    assert f"{old:%Y-%m-%d}: amended: 1 late event(s)" in verify_output()


def test_a_spool_row_whose_id_is_not_of_its_time_is_quarantined(app):
    """A random (version 4) id fits no timestamp: the row never reaches history."""
    now = datetime.datetime.now(datetime.UTC)
    event_id = uuid.uuid4()
    spool_as_app(app, event_id, now, event_row(event_id, now))
    out = rotate_as_maintainer()
    assert "quarantine" in out and "seal" in out  # the run went on
    assert quarantined() == {
        str(event_id): "its id is not an id of its timestamp (audit_events.ids)"
    }
    assert not AuditEvent.objects.filter(pk=event_id).exists()


def test_a_spool_row_reusing_a_stored_id_is_quarantined(app):
    """A second row with a stored id would break the event's pages (with another
    timestamp it is refused as not of its time, see above)."""
    stored = insert_event(app)
    when = timestamp_of(stored)
    spool_as_app(app, stored, when, event_row(stored, when))
    rotate_as_maintainer()
    assert AuditEvent.objects.filter(pk=stored).count() == 1
    assert quarantined() == {str(stored): "its id is already stored"}


@pytest.mark.parametrize(
    "row",
    [
        ["not", "an", "object"],
        {"content_type_id": None},
        {"remote_addr": "not an address"},
    ],
    ids=["array", "null-in-not-null-column", "bad-value"],
)
def test_a_spool_row_that_is_not_an_event_is_quarantined(app, row):
    now = datetime.datetime.now(datetime.UTC)
    event_id = uuid7_for(now)
    spool_as_app(
        app, event_id, now, row if isinstance(row, list) else event_row(event_id, now, **row)
    )
    out = rotate_as_maintainer()
    assert "quarantine" in out and "seal" in out  # the run went on
    reason = quarantined()[str(event_id)]
    assert reason.startswith(("not a valid event", "its JSON row does not match"))
    assert not AuditEvent.objects.filter(pk=event_id).exists()


def test_app_role_cannot_add_a_row_to_a_sealed_day(app):
    day = utc_today() - 3 * DAY
    create_day_partitions(AuditEvent, day, day)
    set_owner(MAINTAINER)
    rotate_as_maintainer()
    assert SealedDay.objects.filter(day=day).exists()
    with pytest.raises(errors.CheckViolation, match="is sealed"):
        insert_event(app, LIVE, day)


@pytest.mark.parametrize(
    "statement",
    [
        "INSERT INTO {seals} (event_table, day, sealed_at, row_count, digest, hashed_columns) "
        "VALUES ('x', '2024-01-01', now(), 0, '', '[]')",
        "UPDATE {seals} SET digest = ''",
        "DELETE FROM {seals}",
        "SELECT * FROM {quarantine}",
        "DELETE FROM {quarantine}",
        "UPDATE {quarantine} SET reason = ''",
    ],
)
def test_app_role_cannot_touch_seals_or_the_quarantine(app, statement):
    with pytest.raises(errors.InsufficientPrivilege):
        app.execute(
            sql.SQL(statement).format(
                seals=sql.Identifier(SEALS), quarantine=sql.Identifier(QUARANTINE)
            )
        )


def test_quarantine_is_reported_by_audit_partitions_and_a_system_check(app):
    from io import StringIO

    from django.core.management import call_command

    from audit_events.checks import check_database

    now = datetime.datetime.now(datetime.UTC)
    spool_as_app(app, uuid.uuid4(), now, ["junk"])
    rotate_as_maintainer()
    out = StringIO()
    call_command("audit_partitions", stdout=out, stderr=StringIO())
    assert "1 spooled row(s) are held in quarantine" in out.getvalue()
    assert "audit_events.W003" in [m.id for m in check_database(databases=["default"])]


def test_app_role_cannot_reuse_an_event_id(app):
    """An id carries its event's time (CHECK audit_events_id_is_time): the same id with
    another timestamp is refused, and with the same timestamp the primary key refuses it."""
    event_id = insert_event(app)
    when = AuditEvent.objects.get(pk=event_id).timestamp
    insert = sql.SQL(
        "INSERT INTO {} (id, timestamp, username, url, query_params, post_data, "
        "headers, object_id, content, content_type_id) VALUES "
        "(%s, %s, 'forged', '', '{{}}', '{{}}', '{{}}', '1', '{{}}', %s)"
    ).format(sql.Identifier(LIVE))
    for other in (when - datetime.timedelta(hours=1), when + datetime.timedelta(microseconds=1)):
        with pytest.raises(errors.CheckViolation, match="audit_events_id_is_time"):
            app.execute(insert, [event_id, other, content_type_id()])
    with pytest.raises(errors.UniqueViolation):
        app.execute(insert, [event_id, when, content_type_id()])
    # A random (version 4) id fits no timestamp.
    with pytest.raises(errors.CheckViolation, match="audit_events_id_is_time"):
        app.execute(insert, [uuid.uuid4(), when, content_type_id()])
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == [event_id]
