"""Tamper evidence: archived days carry a row count and digest that verify recomputes."""

from __future__ import annotations

import datetime
import hashlib

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection
from psycopg import sql

from audit_events.guard import allow_changes
from audit_events.lifecycle import archive_older_than, rotate
from audit_events.models import ArchivedAuditEvent, ArchivedDay, AuditEvent
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.sqlfiles import read_sql
from audit_events.tamper import (
    DIGEST_FILES,
    DayDigest,
    day_digest,
    record_day_digest,
    verify_archived_days,
)
from tests.fixtures_lifecycle import (
    DAY,
    content_type_id,
    fresh_layout,  # noqa: F401 - fixture
    insert_rows,
)

EMPTY = hashlib.sha256(b"").hexdigest()


# --- The SQL function on its own ------------------------------------------------------


@pytest.fixture
def digest_db(sql_db: psycopg.Connection) -> psycopg.Connection:
    """A fresh database with the digest function and a small day-partitioned table."""
    for name in DIGEST_FILES:
        sql_db.execute(read_sql(name))
    sql_db.execute(
        'CREATE TABLE ev (id uuid, "timestamp" timestamptz NOT NULL, note text, content jsonb, '
        'PRIMARY KEY (id, "timestamp")) PARTITION BY RANGE ("timestamp")'
    )
    sql_db.execute("SELECT audit_events_create_day_partition('ev', '2024-03-01')")
    sql_db.execute(
        "INSERT INTO ev SELECT gen_random_uuid(), '2024-03-01'::timestamptz + g * interval '1 s', "
        "'n' || g, jsonb_build_object('g', g, 'nested', jsonb_build_object('x', g::text)) "
        "FROM generate_series(1, 300) AS g"
    )
    return sql_db


def sql_digest(conn: psycopg.Connection, day: str = "2024-03-01") -> tuple[int, str]:
    return conn.execute("SELECT * FROM audit_events_day_digest('ev', %s)", [day]).fetchone()


def test_digest_counts_the_day_and_is_a_sha256(digest_db):
    count, digest = sql_digest(digest_db)
    assert count == 300
    assert len(digest) == 64 and digest != EMPTY


def test_empty_day_has_the_digest_of_nothing(digest_db):
    assert sql_digest(digest_db, "2024-03-02") == (0, EMPTY)


def test_digest_does_not_depend_on_session_settings(digest_db):
    before = sql_digest(digest_db)
    digest_db.execute("SET TimeZone = 'Pacific/Chatham'")
    digest_db.execute("SET DateStyle = 'German'")
    assert sql_digest(digest_db) == before


def test_digest_does_not_depend_on_physical_row_order(digest_db):
    """The same rows stored in another physical order (e.g. after CLUSTER) hash the same."""
    before = sql_digest(digest_db)
    digest_db.execute("CREATE TABLE copy AS SELECT * FROM ev ORDER BY random()")
    digest_db.execute("DELETE FROM ev")
    digest_db.execute("INSERT INTO ev SELECT * FROM copy")
    assert sql_digest(digest_db) == before


@pytest.mark.parametrize(
    "change",
    [
        "UPDATE ev SET note = 'forged' WHERE note = 'n7'",
        "UPDATE ev SET content = jsonb_set(content, '{nested,x}', '\"8\"') WHERE note = 'n7'",
        "UPDATE ev SET \"timestamp\" = \"timestamp\" + interval '1 microsecond' WHERE note = 'n7'",
        "UPDATE ev SET id = gen_random_uuid() WHERE note = 'n7'",
    ],
    ids=["text", "nested-json", "timestamp", "id"],
)
def test_any_edit_of_a_row_changes_the_digest(digest_db, change):
    count, digest = sql_digest(digest_db)
    digest_db.execute(change)
    assert sql_digest(digest_db)[0] == count
    assert sql_digest(digest_db)[1] != digest


def test_swapping_two_rows_contents_changes_the_digest(digest_db):
    count, digest = sql_digest(digest_db)
    digest_db.execute(
        "UPDATE ev SET note = CASE note WHEN 'n1' THEN 'n2' ELSE 'n1' END WHERE note IN ('n1','n2')"
    )
    assert sql_digest(digest_db) != (count, digest)


def test_adding_a_nullable_column_keeps_recorded_digests_valid(digest_db):
    before = sql_digest(digest_db)
    digest_db.execute("ALTER TABLE ev ADD COLUMN tenant text")
    assert sql_digest(digest_db) == before


def test_digest_of_a_table_that_is_not_partitioned_is_refused(digest_db):
    digest_db.execute("CREATE TABLE plain (id int)")
    with pytest.raises(psycopg.errors.WrongObjectType, match="not a partitioned table"):
        digest_db.execute("SELECT * FROM audit_events_day_digest('plain', '2024-03-01')")


# --- Recorded by rotation, verified by the command ---------------------------------------


def lifecycle_test(func):
    """Rotation runs on its own connection: committed data, the layout restored after."""
    func = pytest.mark.usefixtures("fresh_layout")(func)
    return pytest.mark.django_db(transaction=True)(func)


def archived_day(rows: int = 40, days_ago: int = 120) -> datetime.date:
    day = utc_today() - days_ago * DAY
    create_day_partitions(AuditEvent, day, day)
    insert_rows(day, rows)
    archive_older_than(90)
    return day


def one_archived(day: datetime.date) -> ArchivedAuditEvent:
    lower, upper = day_bounds(day)
    return ArchivedAuditEvent.objects.filter(timestamp__gte=lower, timestamp__lt=upper).first()


def verify_command() -> tuple[str, str | None]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_audit_events", stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


@lifecycle_test
def test_archiving_records_count_and_digest_of_the_day():
    day = archived_day(rows=40)
    record = ArchivedDay.objects.get(day=day)
    assert record.row_count == 40
    assert DayDigest(record.row_count, record.digest) == day_digest(ArchivedAuditEvent, day)
    assert len(record.digest) == 64


@lifecycle_test
def test_untouched_archive_verifies_clean():
    archived_day(days_ago=120)
    archived_day(days_ago=121)
    assert verify_archived_days() == []
    out, error = verify_command()
    assert error is None
    assert "Every archived day matches" in out


@lifecycle_test
def test_a_row_changed_by_the_owner_is_reported():
    """The table owner can open the guard; the digest still shows the edit."""
    day = archived_day()
    event = one_archived(day)
    with allow_changes():
        ArchivedAuditEvent.objects.filter(pk=event.pk).update(content={"forged": True})
    (problem,) = verify_archived_days()
    assert (problem.day, problem.problem) == (day, "changed")
    out, error = verify_command()
    assert f"{day:%Y-%m-%d}: changed" in out
    assert error == "1 archived day(s) do not match their record."


@lifecycle_test
def test_a_removed_row_is_reported():
    day = archived_day(rows=40)
    with allow_changes():
        ArchivedAuditEvent.objects.filter(pk=one_archived(day).pk).delete()
    (problem,) = verify_archived_days()
    assert (problem.problem, problem.recorded.row_count, problem.found.row_count) == (
        "removed",
        40,
        39,
    )


@lifecycle_test
def test_an_added_row_is_reported():
    day = archived_day(rows=40)
    ArchivedAuditEvent(
        content_type_id=content_type_id(), object_id="smuggled", timestamp=day_bounds(day)[0]
    ).save()
    (problem,) = verify_archived_days()
    assert (problem.day, problem.problem, problem.found.row_count) == (day, "added", 41)


@lifecycle_test
def test_a_dropped_day_is_reported_missing():
    day = archived_day()
    name = ArchivedAuditEvent._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT inhrelid::regclass::text FROM pg_inherits WHERE inhparent = %s::regclass",
            [name],
        )
        (partition,) = cursor.fetchone()
        cursor.execute(
            sql.SQL("ALTER TABLE {} DETACH PARTITION {}")
            .format(sql.Identifier(name), sql.SQL(partition))
            .as_string(cursor.connection)
        )
        cursor.execute(
            sql.SQL("DROP TABLE {}").format(sql.SQL(partition)).as_string(cursor.connection)
        )
    (problem,) = verify_archived_days()
    assert (problem.day, problem.problem, problem.found.row_count) == (day, "missing", 0)


@lifecycle_test
def test_an_archive_day_without_a_record_is_reported():
    day = utc_today() - 200 * DAY
    create_day_partitions(ArchivedAuditEvent, day, day)
    (problem,) = verify_archived_days()
    assert (problem.day, problem.problem, problem.recorded) == (day, "unrecorded", None)


@lifecycle_test
def test_only_the_asked_days_are_verified():
    day = archived_day(days_ago=120)
    other = archived_day(days_ago=121)
    with allow_changes():
        ArchivedAuditEvent.objects.filter(pk=one_archived(other).pk).update(username="x")
    assert verify_archived_days(days=[day]) == []
    assert [p.day for p in verify_archived_days(days=[other])] == [other]


@lifecycle_test
def test_late_events_drained_into_an_archived_day_are_digested_again():
    """Rotation adding spooled events to an archived day is not tampering."""
    day = archived_day(rows=10)
    # An event for an archived day whose partition the writer does not know of:
    # rotation drains it into the archive.
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (id, timestamp, row) SELECT id, timestamp, "
                "to_jsonb(e) FROM {} AS e LIMIT 1"
            )
            .format(
                sql.Identifier("audit_events_auditevent_spool"),
                sql.Identifier(ArchivedAuditEvent._meta.db_table),
            )
            .as_string(cursor.connection)
        )
        cursor.execute(
            "UPDATE audit_events_auditevent_spool SET id = audit_events_uuid7(timestamp)"
        )
        cursor.execute(
            "UPDATE audit_events_auditevent_spool "
            "SET row = jsonb_set(row, '{id}', to_jsonb(id::text))"
        )
    steps = rotate()
    assert ("drain", day) in [(s.action, s.day) for s in steps]
    assert ("digest", day) in [(s.action, s.day) for s in steps]
    assert ArchivedDay.objects.get(day=day).row_count == 11
    assert verify_archived_days() == []


@lifecycle_test
def test_record_day_digest_stores_and_returns_the_digest():
    day = archived_day(rows=5)
    ArchivedDay.objects.filter(day=day).update(digest="", row_count=None)
    found = record_day_digest(ArchivedAuditEvent, day)
    assert found.row_count == 5
    assert ArchivedDay.objects.get(day=day).digest == found.digest


@lifecycle_test
def test_late_events_do_not_launder_an_earlier_edit():
    """An edited archived day keeps its recorded digest when late events arrive."""
    day = archived_day(rows=10)
    with allow_changes():
        ArchivedAuditEvent.objects.filter(pk=one_archived(day).pk).update(content={"forged": 1})
    # An ordinary backdated event for that day: spooled, then filed by rotation.
    lower, _ = day_bounds(day)
    from tests.testapp.models import Article

    late = AuditEvent(content_object=Article.objects.create(title="late"), timestamp=lower)
    late.save()
    steps = rotate()
    assert ("drain", day) in [(s.action, s.day) for s in steps]
    assert ("digest", day) not in [(s.action, s.day) for s in steps]
    (problem,) = verify_archived_days()
    assert problem.day == day and problem.problem in ("changed", "added")
