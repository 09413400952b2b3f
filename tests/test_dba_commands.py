"""Lifecycle commands: --verbosity, the documented output streams, a complete --dry-run."""

from __future__ import annotations

import io
import uuid

import pytest
from django.core.management import call_command
from django.db import connection

from audit_events.lifecycle import rotate
from audit_events.models import AuditEvent
from audit_events.partitions import create_day_partitions, day_bounds, utc_today
from tests.fixtures_lifecycle import (
    DAY,
    content_type_id,
    fresh_layout,  # noqa: F401 - fixture
    insert_rows,
    states,
)

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]


def _old_day_and_a_spooled_event() -> None:
    old = utc_today() - 120 * DAY
    create_day_partitions(AuditEvent, old, old)
    insert_rows(old, 5)
    AuditEvent(
        content_type_id=content_type_id(), object_id="late", timestamp=day_bounds(old + DAY)[0]
    ).save()  # no partition for that day: spooled


@pytest.mark.parametrize("command", ["rotate_audit_partitions", "archive_audit_events"])
def test_verbosity_0_prints_nothing_and_still_runs(command):
    _old_day_and_a_spooled_event()
    out, err = io.StringIO(), io.StringIO()
    call_command(command, verbosity=0, stdout=out, stderr=err)
    assert (out.getvalue(), err.getvalue()) == ("", "")
    assert states()[f"audit_events_auditevent_p{utc_today() - 120 * DAY:%Y%m%d}"][0] == "archived"


def test_audit_partitions_warns_about_the_spool_on_stderr():
    _old_day_and_a_spooled_event()
    out, err = io.StringIO(), io.StringIO()
    call_command("audit_partitions", stdout=out, stderr=err)
    assert "wait in the spool" in err.getvalue()
    assert "wait in the spool" not in out.getvalue()


def test_audit_partitions_verbosity_0_keeps_only_the_warnings():
    _old_day_and_a_spooled_event()
    out, err = io.StringIO(), io.StringIO()
    call_command("audit_partitions", verbosity=0, stdout=out, stderr=err)
    assert out.getvalue() == ""
    assert "wait in the spool" in err.getvalue()


def test_dry_run_lists_every_step_the_run_does():
    _old_day_and_a_spooled_event()
    planned = rotate(dry_run=True)
    done = rotate()
    assert [(s.action, s.table, s.day) for s in planned] == [
        (s.action, s.table, s.day) for s in done
    ]
    sealed = [s.day for s in done if s.action == "seal"]
    old = utc_today() - 120 * DAY
    # The old day is sealed before it is archived; the day the drain makes, after it.
    assert old in sealed and old + DAY in sealed
    actions = [(s.action, s.day) for s in done]
    assert actions.index(("seal", old)) < actions.index(("archive", old))
    assert actions.index(("drain", old + DAY)) < actions.index(("seal", old + DAY))


def test_audit_partitions_warns_about_a_day_owned_by_another_role():
    role = f"ae_other_{uuid.uuid4().hex[:8]}"
    day = f"audit_events_auditevent_p{utc_today() + 2 * DAY:%Y%m%d}"
    with connection.cursor() as cursor:
        cursor.execute(f"CREATE ROLE {role}")
        cursor.execute(f"ALTER TABLE {day} OWNER TO {role}")
    try:
        out, err = io.StringIO(), io.StringIO()
        call_command("audit_partitions", stdout=out, stderr=err)
    finally:
        with connection.cursor() as cursor:
            cursor.execute(f"DROP TABLE {day}")
            cursor.execute(f"DROP ROLE {role}")
    assert f"{day} is owned by {role}, not by" in err.getvalue()
    assert f"ALTER TABLE {day} OWNER TO" in err.getvalue()
