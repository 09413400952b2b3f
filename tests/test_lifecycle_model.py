"""Model-based test of the lifecycle against the real PostgreSQL (hypothesis stateful).

Hypothesis plays random sequences of: writes of events on any day (live, archived,
far past, far future; ``save()`` and ``bulk_create_events``), rotations, archives,
expiries, clock advances, and maintenance runs that crash right before or after their
k-th statement, k chosen by hypothesis among every statement the run issues (planning,
DDL, drain, seals: ``tests.fixtures_reliability.crash_after``). A model keeps
what was written and the clock. After every run that completes, the invariants
below must hold whatever happened before.

Sealing: an event written for a day that is sealed, archived or closed (its seal
begun) at the time of the write is *late*: it must end up in the quarantine exactly
once (an amendment), never in history, never lost; every other event in history.
After a completed rotation every closed day past its grace is sealed, and verify
(judged at the run's time) reports nothing but the amendments the model caused.

``AUDIT_MODEL_EXAMPLES`` (default 10) and ``AUDIT_MODEL_STEPS`` (default 15) set the
size; CI runs the defaults, derandomized (the same examples every run). A long,
random run (docs/reliability.md):
``AUDIT_MODEL_RANDOM=1 AUDIT_MODEL_EXAMPLES=600 AUDIT_MODEL_STEPS=25 pytest
tests/test_lifecycle_model.py``.
"""

from __future__ import annotations

import collections
import datetime
import os
import uuid
from unittest import mock

import pytest
from django.contrib.contenttypes.models import ContentType
from django.db import connection
from django.test import override_settings
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)
from psycopg import sql

from audit_events.bulk import bulk_create_events
from audit_events.lifecycle import archive_older_than, partition_status, rotate
from audit_events.models import (
    ArchivedAuditEvent,
    ArchivedDay,
    AuditEvent,
    QuarantinedEvent,
    SealedDay,
)
from audit_events.partitions import utc_today
from audit_events.quarantine import AMENDMENT
from audit_events.spool import spool_table, spooled_days
from audit_events.tamper import SEAL_TRIGGER, verify_archived_days
from tests.fixtures_lifecycle import DAY, fresh_layout, reset_layout  # noqa: F401 - fixture
from tests.fixtures_reliability import Crash, crash_after

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.usefixtures("fresh_layout")]

EXAMPLES = int(os.environ.get("AUDIT_MODEL_EXAMPLES", "10"))
STEPS = int(os.environ.get("AUDIT_MODEL_STEPS", "15"))
#: Days are archived after 3 days and premade 2 ahead, so a few clock steps move them.
ARCHIVE_AFTER, PREMAKE = 3, 2
LIFECYCLE = {"AUDIT_ARCHIVE_AFTER_DAYS": ARCHIVE_AFTER, "AUDIT_PARTITION_PREMAKE_DAYS": PREMAKE}
#: A maintenance run here issues 7 to about 45 statements (more after a long clock step).
MOST_STATEMENTS = 45

#: What the examples did, printed at the end (``pytest -s``) and used for the docs' figures.
TOTALS: collections.Counter[str] = collections.Counter()

offsets = st.one_of(
    st.integers(-12, 6),  # around today: live, just archived, premade, not yet made
    st.sampled_from([-400, -30, 40, 900]),  # far past and future: no partition, spooled
)


class Lifecycle(RuleBasedStateMachine):
    """The lifecycle, with a model of what was written and of the clock."""

    def __init__(self) -> None:
        super().__init__()
        self.today = utc_today()
        self.written: dict[uuid.UUID, datetime.date] = {}
        self.late: set[uuid.UUID] = set()  # written for a sealed, archived or closed day
        self.gone_before: datetime.date | None = None  # days expired by some run
        self.crashes = 0
        self.runs = 0
        # The writers' clock is the model's: a day rotation archived is "old" to them too.
        self.clock = mock.patch("audit_events.spool.utc_today", lambda: self.today)

    @initialize()
    def start(self) -> None:
        self.clock.start()
        self.settings = override_settings(**LIFECYCLE)
        self.settings.enable()
        reset_layout()
        self.ct = ContentType.objects.get_for_model(AuditEvent)

    def teardown(self) -> None:
        TOTALS.update(
            examples=1,
            events=len(self.written),
            runs=self.runs,
            crashes=self.crashes,
            days_advanced=(self.today - utc_today()).days,
        )
        self.clock.stop()
        if hasattr(self, "settings"):
            self.settings.disable()

    # --- Rules -------------------------------------------------------------------

    @rule(offset=offsets, count=st.integers(1, 3), bulk=st.booleans(), hour=st.integers(0, 23))
    def write(self, offset: int, count: int, bulk: bool, hour: int) -> None:
        day = self.today + offset * DAY
        when = datetime.datetime.combine(day, datetime.time(hour), tzinfo=datetime.UTC)
        events = [
            AuditEvent(content_type=self.ct, object_id=str(n), timestamp=when, content={"n": n})
            for n in range(count)
        ]
        late = day in self.closed_days()
        if bulk:
            bulk_create_events(events)
        else:
            for event in events:
                event.save()
        self.written.update((event.pk, day) for event in events)
        if late:
            self.late.update(event.pk for event in events)
            TOTALS["late_events"] += count

    @rule(pick=st.integers(0, 1000), count=st.integers(1, 2), bulk=st.booleans())
    def write_late(self, pick: int, count: int, bulk: bool) -> None:
        """Events for a day that already takes no new row (when there is one)."""
        closed = sorted(self.closed_days())
        if not closed:  # make some: two days on, and a completed rotation seals them
            self.advance_clock(2)
            self.maintain("rotate", ARCHIVE_AFTER, None, only_ddl=False, before=False)
            closed = sorted(self.closed_days())
        if closed:
            self.write(
                offset=(closed[pick % len(closed)] - self.today).days,
                count=count,
                bulk=bulk,
                hour=pick % 24,
            )

    def closed_days(self) -> set[datetime.date]:
        """The days that take no new row: sealed, archived, or closed by a begun seal."""
        sealed = set(SealedDay.objects.values_list("day", flat=True))
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
                "WHERE t.tgname = %s",
                [SEAL_TRIGGER],
            )
            closed_tables = {name for (name,) in cursor.fetchall()}
        return sealed | {
            s.day
            for s in partition_status()
            if s.state == "archived" or (s.state == "live" and s.table in closed_tables)
        }

    @rule(days=st.integers(1, 4))
    def advance_clock(self, days: int) -> None:
        self.today += days * DAY

    @rule(
        run=st.sampled_from(["rotate", "archive", "expire"]),
        older_than=st.integers(1, 6),
        crash_at=st.one_of(st.none(), st.integers(1, 12), st.integers(1, MOST_STATEMENTS)),
        only_ddl=st.booleans(),
        before=st.booleans(),
    )
    def maintain(
        self, run: str, older_than: int, crash_at: int | None, only_ddl: bool, before: bool
    ) -> None:
        """One maintenance run, crashed after (or ``before``) its ``crash_at``-th
        statement if it has one, counting only the ``ALTER TABLE`` statements with
        ``only_ddl``: they are few among the run's statements, and each one ends a
        step. "Before" also reaches the point right after a transaction's commit."""
        retention = 8 if run == "expire" else None
        if retention is not None:  # a crashed expiry may have dropped days too
            cutoff = self.today - retention * DAY
            self.gone_before = cutoff if self.gone_before is None else max(self.gone_before, cutoff)
        with override_settings(AUDIT_ARCHIVE_RETENTION_DAYS=retention):
            try:
                matching = "ALTER TABLE" if only_ddl else None
                if only_ddl and crash_at is not None:  # a run has few: 2 per day moved
                    crash_at = 1 + (crash_at - 1) % 6
                with crash_after(at=crash_at, matching=matching, before=before):
                    if run == "archive":
                        archive_older_than(older_than, today=self.today)
                    else:
                        rotate(today=self.today)
            except Crash:
                self.crashes += 1
                TOTALS[f"crash_in_{run}"] += 1
                return
        self.runs += 1
        archive_before = self.today - (older_than if run == "archive" else ARCHIVE_AFTER) * DAY
        self.check_after_a_run(drained=run != "archive", archive_before=archive_before)
        if run != "archive":
            self.check_sealed()

    # --- Invariants ----------------------------------------------------------------

    @invariant()
    def nothing_stored_twice_or_unknown(self) -> None:
        if not hasattr(self, "ct"):
            return
        found = self.where_is_everything()
        assert set(found) <= set(self.written), "an event nobody wrote"
        assert all(len(places) == 1 for places in found.values()), "an event stored twice"

    def check_after_a_run(self, *, drained: bool, archive_before: datetime.date) -> None:
        statuses = partition_status()
        states = {s.day: s.state for s in statuses}
        assert set(states.values()) <= {"live", "archived"}, "pending or orphan table left"
        found = self.where_is_everything()
        for event_id, day in self.written.items():
            places = found.get(event_id, [])
            if self.gone_before is None or day >= self.gone_before:
                assert len(places) == 1, f"event of {day} lost"
            for place in places:
                gone = self.gone_before is not None and day < self.gone_before
                if place == "quarantine" and gone:
                    continue  # its day expired: the seal went with it, the amendment stays
                if event_id in self.late and not gone:  # never in a sealed or archived day
                    allowed = {"quarantine"} if drained else {"quarantine", "spool"}
                    assert place in allowed, f"late event of {day} in the {place}"
                    continue
                # In the table its day's partition is attached to.
                expected = {"live": "live", "archived": "archive"}.get(states.get(day), "spool")
                if place == "spool" and not drained:
                    continue  # archive_older_than leaves the spool to the next rotation
                assert place == expected, f"event of {day} in the {place}, its day is {expected}"
        assert not [d for d, s in states.items() if s == "live" and d < archive_before]
        archived = {d for d, s in states.items() if s == "archived"}
        ledger = set(ArchivedDay.objects.values_list("day", flat=True))
        assert archived <= ledger, f"archived days without a record: {archived - ledger}"
        # Verify, judged at the run's time: the amendments are exactly the model's late
        # events held in quarantine; a day no rotation sealed yet only after an archive run.
        midnight = datetime.datetime.combine(self.today, datetime.time(), tzinfo=datetime.UTC)
        problems = {(p.day, p.problem) for p in verify_archived_days(now=midnight)}
        # A late event for a sealed day is an amendment; for a day archived but not
        # sealed yet (archive_older_than seals nothing), quarantined as archived.
        reasons = dict(QuarantinedEvent.objects.values_list("event_id", "reason"))
        assert set(reasons.values()) <= {AMENDMENT, "its day is archived"}, reasons
        kind = {AMENDMENT: "amended", "its day is archived": "quarantined"}
        held = {(self.written[uuid.UUID(i)], kind[reason]) for i, reason in reasons.items()}
        allowed = {"amended", "quarantined"} if drained else {"amended", "quarantined", "unsealed"}
        assert {p for p in problems if p[1] != "unsealed"} == held, problems
        assert {kind for _, kind in problems} <= allowed, problems
        if drained:
            assert spooled_days(AuditEvent, "default") == []

    def check_sealed(self) -> None:
        """After a completed rotation every closed day past its grace is sealed."""
        sealed = set(SealedDay.objects.values_list("day", flat=True))
        stored = {s.day for s in partition_status() if s.state in ("live", "archived")}
        # rotate(today=T) judges the grace (1 h) from T's midnight: days up to T - 2.
        closed = {day for day in stored if day <= self.today - 2 * DAY}
        assert closed <= sealed, f"closed days not sealed: {sorted(closed - sealed)}"
        assert not {day for day in stored if day >= self.today} & sealed, "an open day sealed"

    def where_is_everything(self) -> dict[uuid.UUID, list[str]]:
        query = sql.SQL(
            "SELECT id, 'live' FROM {} UNION ALL SELECT id, 'archive' FROM {} "
            "UNION ALL SELECT id, 'spool' FROM {} "
            "UNION ALL SELECT event_id::uuid, 'quarantine' FROM {} WHERE event_table = %s"
        ).format(
            sql.Identifier(AuditEvent._meta.db_table),
            sql.Identifier(ArchivedAuditEvent._meta.db_table),
            sql.Identifier(spool_table(AuditEvent)),
            sql.Identifier(QuarantinedEvent._meta.db_table),
        )
        found: dict[uuid.UUID, list[str]] = collections.defaultdict(list)
        with connection.cursor() as cursor:
            cursor.execute(query.as_string(connection.connection), [AuditEvent._meta.db_table])
            for event_id, place in cursor.fetchall():
                found[event_id].append(place)
        return found


def test_lifecycle_model_holds_its_invariants_through_crashes():
    """Random writes, runs, clock steps and crashes; every completed run leaves a sound state."""
    TOTALS.clear()
    run_state_machine_as_test(
        Lifecycle,
        settings=settings(
            max_examples=EXAMPLES,
            stateful_step_count=STEPS,
            deadline=None,
            derandomize=not os.environ.get("AUDIT_MODEL_RANDOM"),
            database=None,
            suppress_health_check=list(HealthCheck),
            print_blob=True,
        ),
    )
    print("lifecycle model:", dict(sorted(TOTALS.items())))
    assert TOTALS["runs"] and TOTALS["crashes"], TOTALS  # the examples did run and crash
    assert TOTALS["late_events"], TOTALS  # and wrote events for sealed or archived days
