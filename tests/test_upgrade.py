"""import_django_audit_events: the original's rows, made by its own migrations, move to ours."""

from __future__ import annotations

import datetime
import io
import re
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest
from django.contrib.auth.models import User
from django.contrib.contenttypes.models import ContentType
from django.core.management import call_command
from django.core.management.base import CommandError
from django.db import connection

from audit_events import ArchivedAuditEvent, AuditEvent
from audit_events.models import ArchivedDay
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.upgrade import (
    LEGACY_TABLE,
    PROGRESS_TABLE,
    event_for_legacy_uuid,
    plan,
    upgrade,
    verify,
)
from tests.fixtures_lifecycle import fresh_layout  # noqa: F401  (fixture)
from tests.processes import ROOT, process_env, python_command
from tests.testapp.models import Article

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]

SCHEMA = Path(__file__).resolve().parent / "original" / "django_audit_events_0_3_7.sql"
LIVE_SOURCE = "django_audit_events_auditevent"
ARCHIVE_SOURCE = "django_audit_events_archivedauditevent"
DAY = datetime.timedelta(days=1)


def _run_sql(statement: str, params: list | None = None) -> list[tuple]:
    with connection.cursor() as cursor:
        cursor.execute(statement, params)
        return cursor.fetchall() if cursor.description else []


@pytest.fixture
def original_tables() -> Iterator[None]:
    """The original's tables, made by its migrations' SQL; dropped afterwards."""
    chunks = re.split(r"^-- migration \S+$", SCHEMA.read_text(), flags=re.MULTILINE)[1:]
    assert len(chunks) == 6
    for chunk in chunks:  # one simple query each: 0006 is CREATE INDEX CONCURRENTLY
        _run_sql(chunk)
    yield
    for table in (LIVE_SOURCE, ARCHIVE_SOURCE, LEGACY_TABLE, PROGRESS_TABLE):
        _run_sql(f'DROP TABLE IF EXISTS "{table}"')


def _insert_live(when: datetime.datetime, **values) -> uuid.UUID:
    table = values.pop("_table", LIVE_SOURCE)
    row = {
        "uuid": uuid.uuid4(),
        "timestamp": when,
        "content_type_id": ContentType.objects.get_for_model(Article).pk,
        "object_id": 1,
        "content": "{}",
        **values,
    }
    columns = ", ".join(f'"{c}"' for c in row)
    _run_sql(
        f'INSERT INTO "{table}" ({columns}) VALUES ({", ".join(["%s"] * len(row))})',
        list(row.values()),
    )
    return row["uuid"]


def _insert_many(table: str, day: datetime.date, count: int, archived: bool = False) -> None:
    extra_columns = ', "archive_timestamp"' if archived else ""
    extra_values = ", %s + interval '100 days'" if archived else ""
    _run_sql(
        f'INSERT INTO "{table}" ("uuid", "timestamp", "content_type_id", "object_id", '
        f'"content", "query_params", "post_data", "headers", "url"{extra_columns}) '
        "SELECT gen_random_uuid(), %s + g * interval '1 second', %s, g, "
        "jsonb_build_object('n', g), '{}', '{}', '{}', '/u/' || g"
        f"{extra_values} FROM generate_series(1, %s) AS g",
        [day_bounds(day)[0], ContentType.objects.get_for_model(Article).pk]
        + ([day_bounds(day)[0]] if archived else [])
        + [count],
    )


@pytest.fixture
def shapes(original_tables: None) -> dict[str, uuid.UUID]:
    """Rows of every shape in both source tables; returns some of their uuids by name."""
    today = utc_today()
    user = User.objects.create_user("alice", password="pw")
    noon = datetime.datetime.combine(today - 3 * DAY, datetime.time(12), tzinfo=datetime.UTC)
    ct = ContentType.objects.get_for_model(User).pk
    named = {
        "full": _insert_live(
            noon,
            user_id=user.pk,
            remote_addr="2001:db8::1",
            url="https://example.com/x?y=1",
            query_params='{"y": "1"}',
            post_data='{"password": "****************"}',
            headers='{"User-Agent": "curl"}',
            content='{"nested": {"a": [1, 2]}, "text": "ü\u00e9"}',
            content_type_id=ct,
            object_id=2147483647,
        ),
        "nulls": _insert_live(
            noon + datetime.timedelta(minutes=1),
            url=None,
            query_params=None,
            post_data=None,
            headers=None,
            user_id=None,
        ),
        "gone_object": _insert_live(noon + datetime.timedelta(minutes=2), object_id=999999),
        "old_live": _insert_live(
            datetime.datetime.combine(today - 200 * DAY, datetime.time(8), tzinfo=datetime.UTC)
        ),
        "archived": _insert_live(
            datetime.datetime.combine(today - 150 * DAY, datetime.time(9), tzinfo=datetime.UTC),
            archive_timestamp=datetime.datetime(2024, 5, 6, 7, tzinfo=datetime.UTC),
            _table=ARCHIVE_SOURCE,
            user_id=user.pk,
        ),
    }
    for offset in (0, 1, 2, 10):
        _insert_many(LIVE_SOURCE, today - offset * DAY, 40)
    for offset in (120, 121):
        _insert_many(ARCHIVE_SOURCE, today - offset * DAY, 30, archived=True)
    return named


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def _source_fingerprint() -> list[tuple]:
    return [
        _run_sql(
            f"SELECT count(*), md5(string_agg(t::text, ',' ORDER BY uuid)) FROM \"{table}\" t"
        )[0]
        for table in (LIVE_SOURCE, ARCHIVE_SOURCE)
    ]


def test_dry_run_shows_the_plan_and_copies_nothing(shapes: dict[str, uuid.UUID]) -> None:
    out = io.StringIO()
    call_command("import_django_audit_events", "--dry-run", stdout=out)
    text = out.getvalue()
    assert "Plan: 9 of 9 source days to copy, 225 rows." in text
    assert f"archive {utc_today() - 121 * DAY}" in text
    assert AuditEvent.objects.count() == 0
    assert LEGACY_TABLE not in connection.introspection.table_names()


def test_upgrade_moves_every_row_with_every_column(shapes: dict[str, uuid.UUID]) -> None:
    before = _source_fingerprint()
    out = io.StringIO()
    call_command("import_django_audit_events", stdout=out)
    assert "Copied 225 rows" in out.getvalue()
    # Not a terminal: one plain line per day, with the rate and the ETA.
    assert re.search(r"^live \S+: 40 rows; \d+/9 days .* rows/s  ETA ", out.getvalue(), re.M)
    assert "Verified" in out.getvalue()
    assert _source_fingerprint() == before

    full = event_for_legacy_uuid(shapes["full"])
    assert isinstance(full, AuditEvent)
    assert (full.username, full.remote_addr, full.url) == (
        "alice",
        "2001:db8::1",
        "https://example.com/x?y=1",
    )
    assert full.object_id == "2147483647"
    assert full.content == {"nested": {"a": [1, 2]}, "text": "ü\u00e9"}
    assert (full.query_params, full.headers) == ({"y": "1"}, {"User-Agent": "curl"})
    assert full.id.version == 7 and full.id != shapes["full"]
    millis = int.from_bytes(full.id.bytes[:6], "big")
    assert millis == int(full.timestamp.timestamp() * 1000)

    nulls = event_for_legacy_uuid(shapes["nulls"])
    assert nulls is not None
    assert (nulls.url, nulls.query_params, nulls.post_data, nulls.headers, nulls.user_id) == (
        "",
        {},
        {},
        {},
        None,
    )
    assert event_for_legacy_uuid(shapes["gone_object"]).object_id == "999999"

    old = event_for_legacy_uuid(shapes["old_live"])
    archived = event_for_legacy_uuid(shapes["archived"])
    assert isinstance(old, ArchivedAuditEvent) and isinstance(archived, ArchivedAuditEvent)
    assert archived.username == "alice"
    record = ArchivedDay.objects.get(day=archived.timestamp.date())
    assert record.archived_at == datetime.datetime(2024, 5, 6, 7, tzinfo=datetime.UTC)
    assert ArchivedDay.objects.filter(day=old.timestamp.date()).exists()
    assert AuditEvent.objects.count() + ArchivedAuditEvent.objects.count() == 225
    assert event_for_legacy_uuid(uuid.uuid4()) is None
    assert "Tamper digests: 4 archived day(s) recorded now" in out.getvalue()
    assert not ArchivedDay.objects.filter(digest="").exists()


def test_late_rows_of_an_archived_day_are_added_and_its_digest_recorded_again(
    shapes: dict[str, uuid.UUID],
) -> None:
    call_command("import_django_audit_events", stdout=io.StringIO())
    day = utc_today() - 121 * DAY
    _insert_live(
        day_bounds(day)[0] + datetime.timedelta(hours=20),
        archive_timestamp=datetime.datetime.now(datetime.UTC),
        _table=ARCHIVE_SOURCE,
    )
    out = _Terminal()
    call_command("import_django_audit_events", stdout=out)
    assert "\r[##############################] 1/1 days  1/1 rows  " in out.getvalue()
    assert "Copied 1 rows" in out.getvalue()
    assert "Tamper digests: 1 archived day(s) recorded now" in out.getvalue()
    assert ArchivedDay.objects.get(day=day).row_count == 31


def test_second_run_does_nothing_and_late_rows_are_picked_up(shapes: dict[str, uuid.UUID]) -> None:
    assert upgrade() == 225
    assert upgrade() == 0
    late = _insert_live(datetime.datetime.now(datetime.UTC))  # an old release still writing
    assert [(m.source_rows, m.found_rows) for m in verify()] == [(41, 40)]
    assert upgrade() == 1
    assert verify() == []
    assert event_for_legacy_uuid(late) is not None
    assert AuditEvent.objects.count() + ArchivedAuditEvent.objects.count() == 226


def test_drop_is_refused_until_verified_then_drops_only_the_sources(
    shapes: dict[str, uuid.UUID],
) -> None:
    with pytest.raises(CommandError, match="not fully upgraded"):
        call_command("import_django_audit_events", "--drop-source-tables", stdout=io.StringIO())
    assert LIVE_SOURCE in connection.introspection.table_names()
    upgrade()
    call_command("import_django_audit_events", "--drop-source-tables", stdout=io.StringIO())
    tables = connection.introspection.table_names()
    assert LIVE_SOURCE not in tables and ARCHIVE_SOURCE not in tables
    assert event_for_legacy_uuid(shapes["full"]) is not None


def test_killed_run_resumes_without_loss_or_double(original_tables: None) -> None:
    """SIGKILL while a day's copy is in flight, then rerun: exact counts."""
    days = [utc_today() - n * DAY for n in range(8, 0, -1)]
    for day in days:
        _insert_many(LIVE_SOURCE, day, 50)
    blocked = days[4]
    create_day_partitions(AuditEvent, blocked, blocked)
    locker = connection.copy()
    locker.ensure_connection()
    locker.connection.autocommit = False
    # SHARE blocks the day's INSERT, not the catalog reads of partition listings.
    partition = f"audit_events_auditevent_p{blocked:%Y%m%d}"
    locker.connection.execute(f'LOCK TABLE "{partition}" IN SHARE MODE')
    process = subprocess.Popen(
        python_command(
            "from django.core.management import call_command\n"
            "call_command('import_django_audit_events')"
        ),
        env=process_env(),
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            waiting = _run_sql(
                "SELECT count(*) FROM pg_locks WHERE NOT granted AND relation = %s::regclass",
                [f"audit_events_auditevent_p{blocked:%Y%m%d}"],
            )[0][0]
            if waiting:
                break
            time.sleep(0.1)
        assert waiting, "the upgrade never reached the locked day"
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=30)
    finally:
        locker.connection.rollback()
        locker.close()
    done = {day for (day,) in _run_sql(f'SELECT day FROM "{PROGRESS_TABLE}"')}
    assert done == set(days[:4])
    assert AuditEvent.objects.count() == 200
    assert {p.day for p in plan() if not p.done} == set(days[4:])
    assert upgrade() == 200
    assert verify() == []
    assert AuditEvent.objects.count() == 400
    legacy = _run_sql(f'SELECT count(*), count(DISTINCT id) FROM "{LEGACY_TABLE}"')[0]
    assert legacy == (400, 400)
