"""docs/operations.md's SQL blocks, extracted from the page and run as written.

Every ```sql or ```psql block of the page carries a marker comment
(``<!-- docs-test: NAME -->``); each test sets up the situation its block is
for, runs it with the real psql (``-X -v ON_ERROR_STOP=1``) and checks that
verify_audit_events and audit_partitions report a clean state.
"""

from __future__ import annotations

import datetime
import io
import re
import tempfile
from pathlib import Path

import psycopg
import pytest
from django.core.management import call_command
from django.db import connection

from audit_events.lifecycle import archive_older_than
from audit_events.models import ArchivedAuditEvent, ArchivedDay, AuditEvent
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from audit_events.tamper import seal_day, verify_days
from tests.fixtures_lifecycle import (
    content_type_id,
    count_everywhere,
    fresh_layout,  # noqa: F401 - fixture
    insert_rows,
    states,
)
from tests.fixtures_psql import psql

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]

PAGE = Path(__file__).resolve().parent.parent / "docs" / "operations.md"
MARKED = re.compile(r"<!-- docs-test: ([\w-]+)[^>]*-->\n```(?:sql|psql)\n(.*?)\n```", re.S)
DAY = datetime.date(2026, 1, 1)  # the day the recovery examples name
PART = "audit_events_auditevent_p20260101"


def blocks() -> dict[str, str]:
    return dict(MARKED.findall(PAGE.read_text()))


def run_block(name: str, options: str = "") -> str:
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as script:
        script.write(blocks()[name] + "\n")
    result = psql("-f", script.name, options=options)
    Path(script.name).unlink()
    assert result.returncode == 0, result.stderr
    return result.stdout


def problems() -> list:
    """verify's problems, but for the other days of the fresh layout that nobody sealed."""
    return [p for p in verify_days() if not (p.problem == "unsealed" and p.day != DAY)]


def assert_clean() -> None:
    assert problems() == []
    assert_partitions_clean()


def assert_partitions_clean() -> None:
    out, err = io.StringIO(), io.StringIO()
    call_command("audit_partitions", stdout=out, stderr=err)
    assert err.getvalue() == ""


def spool_event() -> None:
    AuditEvent(
        content_type_id=content_type_id(), object_id="late", timestamp=day_bounds(DAY)[0]
    ).save()


def orphan_day(rows: int = 7) -> None:
    create_day_partitions(AuditEvent, DAY, DAY)
    insert_rows(DAY, rows)
    with connection.cursor() as cursor:
        cursor.execute(f"ALTER TABLE audit_events_auditevent DETACH PARTITION {PART}")


def test_every_sql_block_of_the_page_is_marked_and_tested():
    fences = re.findall(r"^```(?:sql|psql)$", PAGE.read_text(), re.M)
    names = list(blocks())
    assert len(fences) == len(names) >= 10
    tested = {n.removeprefix("test_block_").replace("_", "-") for n in globals()}
    assert set(names) - {"pg_cron"} <= tested


def test_block_create():
    run_block("create")
    days = {d for s, d in states().values() if s == "live"}
    assert {datetime.date(2023, 1, 1), datetime.date(2023, 1, 31)} <= days
    assert_clean()


@pytest.mark.parametrize(
    "options",
    ["", "-c DateStyle=Postgres,MDY -c TimeZone=Asia/Shanghai -c search_path=pg_temp"],
)
def test_block_plan(options):
    old = utc_today() - datetime.timedelta(days=120)
    create_day_partitions(AuditEvent, old, old)
    insert_rows(old, 5)
    out = run_block("plan", options)
    assert "archive" in out
    assert states()[f"audit_events_auditevent_p{old:%Y%m%d}"][0] == "archived"
    assert ArchivedDay.objects.get(day=old).row_count == 5
    assert_clean()


def test_block_advisory_lock():
    out = run_block("advisory-lock")
    assert out.splitlines()[2].strip() == "t"
    assert_clean()


def test_block_monitor():
    out = run_block("monitor")
    assert "days_ahead" in out and "count" in out
    assert_clean()


def test_block_pending():
    """A detach from the live table that could not finish; then the orphan block."""
    create_day_partitions(AuditEvent, DAY, DAY)
    insert_rows(DAY, 7)
    params = connection.get_connection_params()
    dsn = psycopg.conninfo.make_conninfo(
        host=params["host"], port=params["port"], dbname=params["dbname"], user=params["user"]
    )
    with psycopg.connect(dsn) as reader, psycopg.connect(dsn, autocommit=True) as ddl:
        reader.execute("SELECT count(*) FROM audit_events_auditevent")
        ddl.execute("SET lock_timeout = '100ms'")
        with pytest.raises(psycopg.errors.LockNotAvailable):
            ddl.execute(f"ALTER TABLE audit_events_auditevent DETACH PARTITION {PART} CONCURRENTLY")
    assert states()[PART][0] == "pending"
    run_block("pending")
    assert states()[PART][0] == "orphan"
    run_block("orphan")
    assert states()[PART][0] == "archived"
    assert_clean()


def test_block_orphan():
    orphan_day()
    assert states()[PART][0] == "orphan"
    run_block("orphan")
    assert states()[PART][0] == "archived"
    assert ArchivedDay.objects.get(day=DAY).row_count == 7
    assert_clean()


def test_block_merge():
    create_day_partitions(ArchivedAuditEvent, DAY, DAY)
    ArchivedDay.objects.create(archive_table="audit_events_archivedauditevent", day=DAY)
    seal_day(DAY, "audit_events_archivedauditevent_p20260101", "archived")
    orphan_day(rows=4)
    before = count_everywhere()  # the orphan's 4 rows are in neither table
    run_block("merge")
    assert PART not in states()
    assert ArchivedDay.objects.get(day=DAY).row_count == 4
    assert count_everywhere() == before + 4
    assert_clean()


def test_block_drain_live():
    spool_event()
    create_day_partitions(AuditEvent, DAY, DAY)
    run_block("drain-live")
    assert AuditEvent.objects.filter(object_id="late").count() == 1
    # A live day is sealed by the rotation after its grace; the block is about the spool.
    assert [p for p in problems() if p.problem != "unsealed"] == []
    assert_partitions_clean()


def test_block_drain_archive():
    create_day_partitions(AuditEvent, DAY, DAY)
    insert_rows(DAY, 3)
    archive_older_than(30)
    seal_day(DAY, PART, "archived")
    spool_event()
    assert problems() == []
    run_block("drain-archive")
    assert ArchivedAuditEvent.objects.filter(object_id="late").count() == 1
    assert ArchivedDay.objects.get(day=DAY).row_count == 4
    assert_clean()
