"""Tamper evidence: archived days carry a row count and digest that verify recomputes."""

from __future__ import annotations

import datetime
import hashlib

import psycopg
import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.test import override_settings
from psycopg import sql

from audit_events.guard import allow_changes
from audit_events.lifecycle import archive_older_than, rotate
from audit_events.models import (
    ArchivedAuditEvent,
    ArchivedDay,
    AuditEvent,
    QuarantinedEvent,
    SealedDay,
)
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.spool import spool_table
from audit_events.sqlfiles import read_sql
from audit_events.tamper import DIGEST_FILES, DayDigest, day_digest, verify_days
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
    return conn.execute(
        "SELECT row_count, digest FROM audit_events_day_digest('ev', %s)", [day]
    ).fetchone()


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
    digest_db.execute("SET extra_float_digits = -3")
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


def test_adding_a_column_keeps_recorded_digests_valid(digest_db):
    """A seal records the columns it hashed; verify hashes those again."""
    count, digest, columns = digest_db.execute(
        "SELECT * FROM audit_events_day_digest('ev', '2024-03-01')"
    ).fetchone()
    assert columns == ["id", "timestamp", "note", "content"]
    digest_db.execute("ALTER TABLE ev ADD COLUMN tenant text DEFAULT 'acme'")
    again = digest_db.execute(
        "SELECT row_count, digest FROM audit_events_day_digest('ev', '2024-03-01', %s)", [columns]
    ).fetchone()
    assert again == (count, digest)
    assert sql_digest(digest_db) != (count, digest)  # all of today's columns


def test_a_null_added_inside_json_content_changes_the_digest(digest_db):
    """The first digest stripped JSON nulls, so this edit went unseen; it no longer does."""
    before = sql_digest(digest_db)
    digest_db.execute("UPDATE ev SET content = content || '{\"x\": null}' WHERE note = 'n7'")
    assert sql_digest(digest_db) != before


def test_digest_is_the_two_level_fold_it_documents(digest_db):
    """sha256 of the minute hashes, each the sha256 of its rows' hashes in key order."""
    digest_db.execute("SET TimeZone = 'UTC'")
    rows = digest_db.execute(
        "SELECT date_trunc('minute', \"timestamp\"), "
        "sha256(convert_to(ROW(id, \"timestamp\", note, content)::text, 'UTF8')) "
        'FROM ev ORDER BY 1, "timestamp", id'
    ).fetchall()
    minutes: dict[object, bytes] = {}
    for minute, row_hash in rows:
        minutes[minute] = minutes.get(minute, b"") + row_hash
    folded = b"".join(hashlib.sha256(h).digest() for h in minutes.values())
    assert sql_digest(digest_db) == (300, hashlib.sha256(folded).hexdigest())


def test_digest_of_a_table_that_is_not_partitioned_is_refused(digest_db):
    digest_db.execute("CREATE TABLE plain (id int)")
    with pytest.raises(psycopg.errors.WrongObjectType, match="not a partitioned table"):
        digest_db.execute("SELECT * FROM audit_events_day_digest('plain', '2024-03-01')")


# --- Sealed by rotation, verified by the command -----------------------------------------


def lifecycle_test(func):
    """Rotation runs on its own connection: committed data, the layout restored after."""
    func = pytest.mark.usefixtures("fresh_layout")(func)
    return pytest.mark.django_db(transaction=True)(func)


def day_with_rows(rows: int, days_ago: int) -> datetime.date:
    day = utc_today() - days_ago * DAY
    create_day_partitions(AuditEvent, day, day)
    insert_rows(day, rows)
    return day


def sealed_day(rows: int = 40, days_ago: int = 3) -> datetime.date:
    """A closed live day, sealed by a rotation."""
    day = day_with_rows(rows, days_ago)
    rotate()
    return day


def archived_day(rows: int = 40, days_ago: int = 120) -> datetime.date:
    """A day sealed and archived by one rotation (sealing runs before archiving)."""
    return sealed_day(rows, days_ago)


def one_event(model, day: datetime.date):
    lower, upper = day_bounds(day)
    return model.objects.filter(timestamp__gte=lower, timestamp__lt=upper).first()


def verify_command() -> tuple[str, str | None]:
    from io import StringIO

    out = StringIO()
    try:
        call_command("verify_audit_events", stdout=out)
    except CommandError as exc:
        return out.getvalue(), str(exc)
    return out.getvalue(), None


def problems() -> list[tuple[datetime.date | None, str]]:
    return [(p.day, p.problem) for p in verify_days()]


def spool_a_copy_of(model, day: datetime.date, new_id: bool) -> str:
    """Put a copy of one stored event of ``day`` in the spool, as a writer could."""
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL(
                "INSERT INTO {} (id, timestamp, row) SELECT id, timestamp, to_jsonb(e) "
                "FROM {} AS e WHERE timestamp >= %s AND timestamp < %s LIMIT 1 RETURNING id::text"
            )
            .format(sql.Identifier(spool_table(AuditEvent)), sql.Identifier(model._meta.db_table))
            .as_string(cursor.connection),
            list(day_bounds(day)),
        )
        (event_id,) = cursor.fetchone()
        if new_id:
            cursor.execute(
                "UPDATE audit_events_auditevent_spool SET id = gen_random_uuid() RETURNING id::text"
            )
            (event_id,) = cursor.fetchone()
            cursor.execute(
                "UPDATE audit_events_auditevent_spool SET row = jsonb_set(row, '{id}', "
                "to_jsonb(id::text))"
            )
    return event_id


@lifecycle_test
def test_rotation_seals_a_closed_live_day_with_its_count_and_digest():
    day = sealed_day(rows=40, days_ago=3)
    seal = SealedDay.objects.get(day=day)
    assert seal.row_count == 40
    assert DayDigest(seal.row_count, seal.digest) == day_digest(AuditEvent, day)
    assert AuditEvent.objects.filter(timestamp__date=day).count() == 40  # still live
    assert problems() == []


@lifecycle_test
@pytest.mark.parametrize(("grace", "sealed"), [(1, False), (0, True)])
def test_a_day_is_sealed_once_its_grace_has_passed(grace, sealed):
    """rotate(today=...) judges the grace from that day's midnight."""
    today = utc_today() - 10 * DAY
    yesterday = day_with_rows(5, days_ago=11)
    with override_settings(AUDIT_SEAL_GRACE_HOURS=grace):
        steps = rotate(today=today)
    assert (("seal", yesterday) in [(s.action, s.day) for s in steps]) is sealed
    assert SealedDay.objects.filter(day=yesterday).exists() is sealed


@lifecycle_test
def test_a_sealed_day_refuses_new_rows_and_a_late_event_becomes_an_amendment():
    day = sealed_day(rows=10, days_ago=3)
    late = AuditEvent(
        content_type_id=content_type_id(), object_id="late", timestamp=day_bounds(day)[0]
    )
    late.save()  # refused by the sealed partition: kept in the spool, not lost
    assert AuditEvent.objects.filter(pk=late.pk).count() == 0
    steps = rotate()
    assert ("quarantine", day) in [(s.action, s.day) for s in steps]
    assert SealedDay.objects.get(day=day).row_count == 10
    (problem,) = verify_days()
    assert (problem.day, problem.problem) == (day, "amended")
    assert str(late.pk) in problem.detail and "1 late event" in problem.detail
    out, error = verify_command()
    assert f"{day:%Y-%m-%d}: amended" in out and error is not None


@lifecycle_test
def test_archiving_moves_the_seal_and_reads_no_row():
    day = sealed_day(rows=20, days_ago=100)  # sealed while live (rotate archives > 90)
    assert ArchivedAuditEvent.objects.filter(timestamp__date=day).count() == 20
    assert ArchivedDay.objects.get(day=day).digest == SealedDay.objects.get(day=day).digest
    assert problems() == []


@lifecycle_test
def test_a_day_archived_unsealed_is_reported_until_rotation_seals_it():
    day = day_with_rows(15, days_ago=120)
    steps = archive_older_than(90)
    assert [s.action for s in steps] == ["archive"]  # no step reads the day
    assert not SealedDay.objects.filter(day=day).exists()
    assert (day, "unsealed") in problems()
    out, error = verify_command()
    assert error is not None and "unsealed" in out
    steps = rotate()
    assert ("seal", day) in [(s.action, s.day) for s in steps]
    assert SealedDay.objects.get(day=day).row_count == 15
    assert problems() == []


@lifecycle_test
def test_untouched_days_verify_clean():
    archived_day(days_ago=120)
    sealed_day(days_ago=5)
    assert problems() == []
    out, error = verify_command()
    assert error is None
    assert "matches its seal" in out


@lifecycle_test
@pytest.mark.parametrize("days_ago", [5, 120], ids=["live", "archived"])
def test_a_row_changed_by_the_owner_is_reported(days_ago):
    """The table owner can open the guard; the seal still shows the edit."""
    day = sealed_day(days_ago=days_ago)
    model = AuditEvent if days_ago < 90 else ArchivedAuditEvent
    with allow_changes():
        model.objects.filter(pk=one_event(model, day).pk).update(content={"forged": True})
    assert problems() == [(day, "changed")]
    out, error = verify_command()
    assert f"{day:%Y-%m-%d}: changed" in out
    assert error == "1 problem(s): the log is not verified clean."


@lifecycle_test
@pytest.mark.parametrize("days_ago", [5, 120], ids=["live", "archived"])
def test_a_removed_row_is_reported(days_ago):
    day = sealed_day(rows=40, days_ago=days_ago)
    model = AuditEvent if days_ago < 90 else ArchivedAuditEvent
    with allow_changes():
        model.objects.filter(pk=one_event(model, day).pk).delete()
    (problem,) = verify_days()
    assert (problem.problem, problem.recorded.row_count, problem.found.row_count) == (
        "removed",
        40,
        39,
    )


@lifecycle_test
def test_a_row_added_by_the_owner_past_the_seal_trigger_is_reported():
    day = sealed_day(rows=40, days_ago=5)
    with transaction.atomic(), connection.cursor() as cursor:
        cursor.execute("SET LOCAL session_replication_role = replica")  # no triggers
        insert_rows(day, 1)
    (problem,) = verify_days()
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
    assert problems() == [(day, "missing")]


@lifecycle_test
def test_an_archive_day_without_a_record_is_reported():
    day = utc_today() - 200 * DAY
    create_day_partitions(ArchivedAuditEvent, day, day)
    found = [(p.day, p.problem) for p in verify_days(days=[day])]
    assert found == [(day, "unrecorded"), (day, "unsealed")]


@lifecycle_test
def test_a_closed_day_nobody_sealed_is_never_verified_clean():
    """Yesterday's partition exists (fresh layout); no rotation ran since it closed."""
    yesterday = utc_today() - DAY
    assert problems() == [(yesterday, "unsealed")]
    out, error = verify_command()
    assert error is not None and f"{yesterday:%Y-%m-%d}: unsealed" in out


@lifecycle_test
def test_only_the_asked_days_are_verified():
    day = sealed_day(days_ago=5)
    other = sealed_day(days_ago=6)
    with allow_changes():
        AuditEvent.objects.filter(pk=one_event(AuditEvent, other).pk).update(username="x")
    assert verify_days(days=[day]) == []
    assert [p.day for p in verify_days(days=[other])] == [other]


@lifecycle_test
def test_a_spooled_event_for_an_archived_day_is_quarantined_not_digested_in():
    """Rotation no longer files rows into an archived day and re-records its digest."""
    day = archived_day(rows=10)
    seal = SealedDay.objects.get(day=day)
    event_id = spool_a_copy_of(ArchivedAuditEvent, day, new_id=True)
    steps = rotate()
    assert ("quarantine", day) in [(s.action, s.day) for s in steps]
    assert ArchivedAuditEvent.objects.filter(timestamp__date=day).count() == 10
    assert SealedDay.objects.get(day=day).digest == seal.digest
    assert QuarantinedEvent.objects.get().event_id == event_id
    assert problems() == [(day, "amended")]


@lifecycle_test
def test_late_events_do_not_launder_an_earlier_edit():
    """An edited archived day keeps its seal when a late event for it arrives."""
    day = archived_day(rows=10)
    with allow_changes():
        ArchivedAuditEvent.objects.filter(pk=one_event(ArchivedAuditEvent, day).pk).update(
            content={"forged": 1}
        )
    from tests.testapp.models import Article

    late = AuditEvent(
        content_object=Article.objects.create(title="late"), timestamp=day_bounds(day)[0]
    )
    late.save()
    steps = rotate()
    assert ("seal", day) not in [(s.action, s.day) for s in steps]
    assert problems() == [(day, "amended"), (day, "changed")]


@pytest.mark.parametrize("value", [-1, 721, 1.5, "1", True])
def test_a_bad_seal_grace_is_refused_with_the_settings_name(value):
    from django.core.exceptions import ImproperlyConfigured

    from audit_events.conf import validate

    with pytest.raises(ImproperlyConfigured, match="AUDIT_SEAL_GRACE_HOURS"):
        validate("AUDIT_SEAL_GRACE_HOURS", value)


@lifecycle_test
def test_dry_run_lists_the_days_it_would_seal_and_seals_nothing():
    day = day_with_rows(3, days_ago=4)
    planned = rotate(dry_run=True)
    assert ("seal", day) in [(s.action, s.day) for s in planned]
    assert not SealedDay.objects.exists()
