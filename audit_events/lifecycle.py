"""Rotation and archiving: days come and go as whole partitions, never row by row.

``rotate`` is what cron (``manage.py rotate_audit_partitions``), Celery beat
(``audit_events.tasks.rotate_audit_partitions``) or pg_cron run; one run:

1. **repair** what an interrupted run left: finish a pending
   ``DETACH ... CONCURRENTLY`` and attach every orphaned day table where it belongs;
2. **create** live partitions from today to ``AUDIT_PARTITION_PREMAKE_DAYS`` ahead;
3. **archive** live days older than ``AUDIT_ARCHIVE_AFTER_DAYS``: detach
   concurrently, attach to the archive table (same physical table, no row copied);
4. **expire** archive days older than ``AUDIT_ARCHIVE_RETENTION_DAYS`` (if set);
5. **drain** the spool: events kept because their day had no partition, each
   checked first; a row that is not a valid event of its own columns, reuses a
   stored id or falls on a sealed or archived day is quarantined instead
   (``audit_events.quarantine``). The spooled events of a live day still open
   to new rows are drained first, before the seal and the moves (they were
   written before its seal); each spooled day drains in one transaction, with
   the partition the drain makes for it;
6. **seal** every closed day past ``AUDIT_SEAL_GRACE_HOURS`` that has no seal yet:
   close its partition to new rows and record its row count and digest
   (``audit_events.tamper``); this runs before step 3 too, so that archiving
   moves sealed days;
7. **analyze** the parents that changed.

Steps 1-4 and 7 are planned by the SQL function ``audit_events_plan_maintenance``
(``sql/plan_maintenance.sql``), the same one a DBA runs with ``psql \\gexec``, so
the two paths cannot disagree. Each statement runs at top level in its own
transaction on a dedicated autocommit connection (one statement string may
hold several commands, e.g. an ATTACH and its ledger record: sent without
parameters they run as one implicit transaction), under a short
``lock_timeout`` with retries, while that connection holds the table's advisory
lock for the whole run.
"""

from __future__ import annotations

import contextlib
import datetime
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, transaction
from psycopg import sql

from audit_events.conf import settings
from audit_events.exceptions import PartitioningError
from audit_events.locks import release_rotation_lock, retry_on_lock_timeout, try_rotation_lock
from audit_events.partitions import bound_ddl_on_workers, table_of, utc_today
from audit_events.quarantine import drain_checked
from audit_events.spool import forget_partitioned_days, spool_table, spooled_counts
from audit_events.tamper import (
    SEAL_TRIGGER,
    close_day_table,
    copy_seals_to_archived_days,
    days_to_seal,
    seal_cutoff,
    seal_day,
)

__all__ = [
    "PartitionStatus",
    "Step",
    "archive_older_than",
    "days_made_ahead",
    "partition_status",
    "rotate",
]

logger = logging.getLogger("audit_events")

_DAY = datetime.timedelta(days=1)


@dataclass(frozen=True)
class Step:
    """One step of a rotation or archive run (done, or planned with ``dry_run``).

    Attributes:
        action: ``"repair"``, ``"create"``, ``"archive"``, ``"expire"``,
            ``"drain"``, ``"quarantine"`` (spooled rows kept out of history, see
            ``audit_events.quarantine``), ``"seal"`` (row count and digest of a
            closed day, see ``audit_events.tamper``) or ``"analyze"``.
        table: the day table (or, for ``analyze`` and ``drain``, the parent).
        day: the UTC day concerned, ``None`` for ``analyze``.
        detail: what the step does, in words.
    """

    action: str
    table: str
    day: datetime.date | None = None
    detail: str = ""

    def __str__(self) -> str:
        day = self.day.isoformat() if self.day else "-"
        return f"{self.action:<8}{day:<11}{self.table}: {self.detail}"


@dataclass(frozen=True)
class PartitionStatus:
    """One day table of the live or archive table (``audit_events_partition_status``).

    ``state`` is ``"live"``, ``"archived"``, ``"pending"`` (a concurrent detach
    did not finish) or ``"orphan"`` (attached to neither table).
    """

    table: str
    parent: str | None
    day: datetime.date
    lower_bound: datetime.datetime
    upper_bound: datetime.datetime
    state: str
    estimated_rows: int | None
    size_bytes: int


@dataclass(frozen=True)
class _Window:
    """The days a run works on, computed in Python (never ``now()`` in SQL)."""

    archive_before: datetime.date
    seal_now: datetime.datetime | None = None
    first_day: datetime.date | None = None
    last_day: datetime.date | None = None
    expire_before: datetime.date | None = None


@dataclass(frozen=True)
class _Planned:
    step: Step
    statements: tuple[str, ...]


# --- Public API -----------------------------------------------------------------


def rotate(
    using: str = DEFAULT_DB_ALIAS, *, today: datetime.date | None = None, dry_run: bool = False
) -> list[Step]:
    """Run (or with ``dry_run``, plan) one rotation of the event and archive tables.

    Repairs interrupted work, premakes partitions, seals closed days, archives
    aged days, expires archive days past retention, drains the spool (checking
    each row, quarantining the refused ones) and analyzes changed parents.
    Safe to run at any time and to interrupt; a second run at the same time
    raises ``RotationInProgress`` and does nothing.

    Args:
        using: the database alias.
        today: the UTC day to count from (default: today, and the grace of
            sealing counts from now; with ``today``, from its midnight).
        dry_run: only return the plan; change nothing and take no lock.

    Returns:
        The steps, in the order they ran.

    Raises:
        RotationInProgress: another run holds the maintenance lock.
        PartitioningError: a step failed (the message names it); the next run
            repairs what this one left.
        ImproperlyConfigured: retention is not longer than the archive age.
    """
    window = _rotation_window(today or utc_today(), today is None)
    return _run(using, window, dry_run=dry_run, drain=True, analyze=True)


def archive_older_than(
    older_than: int | None = None,
    using: str = DEFAULT_DB_ALIAS,
    *,
    today: datetime.date | None = None,
    dry_run: bool = False,
) -> list[Step]:
    """Move every live day older than ``older_than`` days to the archive table.

    Each day's partition is detached concurrently and attached to the archive
    table: no row is copied, and the time does not grow with the number of rows.
    Interrupted earlier work is repaired first, and spooled events are filed.
    Unlike ``rotate``, it does not ANALYZE the parents: before PostgreSQL 18 that
    also re-analyzes every partition, a cost that grows with the data and belongs
    to the daily rotation.
    This is what ``manage.py archive_audit_events`` and the Celery task
    ``archive_old_audit_events`` run.

    No row is read: a day's seal (row count and digest) was recorded by
    rotation when the day closed, and stays with it (``audit_events.tamper``);
    a day archived before it was sealed is sealed by the next rotation, and
    ``verify_audit_events`` reports it as unsealed meanwhile.

    Args:
        older_than: days to keep live (default ``AUDIT_ARCHIVE_AFTER_DAYS``); a day
            is archived once all of it is more than this many days before ``today``.
        using: the database alias.
        today: the UTC day to count from (default: today).
        dry_run: only return the plan; change nothing and take no lock.

    Returns:
        The steps, in the order they ran.

    Raises:
        ValueError: ``older_than`` is not a whole number of days >= 1.
        RotationInProgress: another run holds the maintenance lock.
        PartitioningError: a step failed (the message names it).
    """
    days = settings.AUDIT_ARCHIVE_AFTER_DAYS if older_than is None else _checked_days(older_than)
    window = _Window(archive_before=(today or utc_today()) - days * _DAY)
    # Drains the spool too: it is the only job django-audit-events had people schedule.
    return _run(using, window, dry_run=dry_run, drain=True, analyze=False)


def partition_status(using: str = DEFAULT_DB_ALIAS) -> list[PartitionStatus]:
    """Every day table of the live and archive tables, in day order, from the catalog."""
    live, archive = _models()
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT * FROM audit_events_partition_status(%s::regclass, %s::regclass)",
            [_regclass(using, live), _regclass(using, archive)],
        )
        return [PartitionStatus(*row) for row in cursor.fetchall()]


def days_made_ahead(statuses: list[PartitionStatus], today: datetime.date | None = None) -> int:
    """How many days after ``today`` have a live partition, counting without a gap."""
    live_days = {s.day for s in statuses if s.state == "live"}
    day, ahead = (today or utc_today()) + _DAY, 0
    while day in live_days:
        ahead, day = ahead + 1, day + _DAY
    return ahead


# --- Windows ----------------------------------------------------------------------


def _rotation_window(today: datetime.date, now: bool = True) -> _Window:
    after = settings.AUDIT_ARCHIVE_AFTER_DAYS
    retention = settings.AUDIT_ARCHIVE_RETENTION_DAYS
    if retention is not None and retention <= after:
        raise ImproperlyConfigured(
            f"settings.AUDIT_ARCHIVE_RETENTION_DAYS ({retention}) must be greater than "
            f"AUDIT_ARCHIVE_AFTER_DAYS ({after}): both count from the event's day, so days "
            "would be dropped as soon as they are archived. Raise it, or set None to keep "
            "archived days forever."
        )
    midnight = datetime.datetime.combine(today, datetime.time(), tzinfo=datetime.UTC)
    return _Window(
        archive_before=today - after * _DAY,
        seal_now=datetime.datetime.now(datetime.UTC) if now else midnight,
        first_day=today,
        last_day=today + settings.AUDIT_PARTITION_PREMAKE_DAYS * _DAY,
        expire_before=None if retention is None else today - retention * _DAY,
    )


def _checked_days(value: Any) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"older_than must be a whole number of days >= 1; got {value!r}")
    return value


# --- Running a plan -----------------------------------------------------------------


def _run(using: str, window: _Window, *, dry_run: bool, drain: bool, analyze: bool) -> list[Step]:
    live, _ = _models()
    if dry_run:
        with connections[using].cursor() as cursor:
            planned = _plan(cursor, using, window, analyze)
            created: list[tuple[datetime.date, str]] = []
            waiting = _spooled_days(using) if drain else set()
            early = _drain_plan(cursor, using, window, created, only=waiting) if waiting else []
            drains = _drain_plan(cursor, using, window, created, skip=waiting) if drain else []
            seals = _seal_plan(using, window)
            late = _created_seal_plan(cursor, window, created) if drain else []
        return _ordered([p.step for p in planned], early, seals, drains, late)
    with _maintenance_session(using, table_of(live)) as cursor:
        planned = retry_on_lock_timeout(
            lambda: _plan(cursor, using, window, analyze), f"plan maintenance of {table_of(live)}"
        )
        first = [_execute(cursor, p) for p in planned if p.step.action in _BEFORE_SEAL]
        # A live day with spooled events takes them before its seal (and before
        # it is archived): they were written before the seal, not late.
        waiting = _spooled_days(using) if drain else set()
        first += _drain(cursor, using, window, only=waiting) if waiting else []
        sealed = _seal(cursor, using, window)
        done = [_execute(cursor, p) for p in planned if p.step.action not in _BEFORE_SEAL_OR_LAST]
        copy_seals_to_archived_days(using)
        drained = _drain(cursor, using, window) if drain else []
        # Days the drain created (past their grace) are sealed too, in the same run.
        drained += _seal(cursor, using, window) if drain else []
        analyzed = [_execute(cursor, p) for p in planned if p.step.action == "analyze"]
    forget_partitioned_days()
    return [*first, *sealed, *done, *drained, *analyzed]


_BEFORE_SEAL = ("repair", "create")
_BEFORE_SEAL_OR_LAST = ("repair", "create", "analyze")


def _ordered(
    planned: list[Step],
    early_drains: list[Step],
    seals: list[Step],
    drains: list[Step],
    late_seals: list[Step],
) -> list[Step]:
    """The plan in the order it runs: repair and create, drain of the open live
    days, seal, the moves, drain, seal of the days the drain made, analyze."""
    first = [s for s in planned if s.action in _BEFORE_SEAL]
    moves = [s for s in planned if s.action not in _BEFORE_SEAL_OR_LAST]
    analyze = [s for s in planned if s.action == "analyze"]
    return [*first, *early_drains, *seals, *moves, *drains, *late_seals, *analyze]


def _spooled_days(using: str) -> set[datetime.date]:
    """Days with spooled events whose live partition is still open to new rows.

    A day closed by a seal that did not finish (a crash between the trigger and
    the record) refuses its spooled rows anyway: it is sealed first, they are
    amendments.
    """
    spooled = {day for day, _count in spooled_counts(_models()[0], using)}
    if not spooled:  # the usual case: no need to read every day table's state
        return set()
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT c.relname FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid "
            "WHERE t.tgname = %s",
            [SEAL_TRIGGER],
        )
        closed = {name for (name,) in cursor.fetchall()}
    return {
        s.day for s in partition_status(using) if s.state == "live" and s.table not in closed
    } & spooled


def _models() -> tuple[type[models.Model], type[models.Model]]:
    from audit_events.models import get_audit_event_archive_model, get_audit_event_model

    return get_audit_event_model(), get_audit_event_archive_model()


def _regclass(using: str, model: type[models.Model]) -> str:
    """The table name quoted so that ``::regclass`` resolves exactly this name."""
    return str(connections[using].ops.quote_name(table_of(model)))


@contextmanager
def _maintenance_session(using: str, table: str) -> Iterator[Any]:
    """A cursor on a new autocommit connection holding the table's advisory lock.

    A connection of its own, because ``DETACH ... CONCURRENTLY`` refuses to run
    inside a transaction block, and the caller's connection may be in one.
    """
    wrapper = connections.create_connection(using)
    try:
        wrapper.ensure_connection()
        with wrapper.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, false)",
                [f"{settings.AUDIT_LOCK_TIMEOUT_MS}ms"],
            )
            try_rotation_lock(cursor, table)
            try:
                yield cursor
            finally:
                release_rotation_lock(cursor, table)
    finally:
        wrapper.close()


def _plan(cursor: Any, using: str, window: _Window, analyze: bool = True) -> list[_Planned]:
    live, archive = _models()
    cursor.execute(
        "SELECT action, table_name, day, detail, "
        "audit_events_step_statements(%s::regclass, action, statements) "
        "FROM audit_events_plan_maintenance(%s::regclass, %s::regclass, %s, %s, %s, %s, %s) "
        "ORDER BY step",
        [
            _regclass(using, live),
            _regclass(using, live),
            _regclass(using, archive),
            window.archive_before,
            window.first_day,
            window.last_day,
            window.expire_before,
            analyze,
        ],
    )
    return [
        _Planned(Step(action, table, day, detail), tuple(statements))
        for action, table, day, detail, statements in cursor.fetchall()
    ]


def _execute(cursor: Any, planned: _Planned) -> Step:
    step = planned.step
    if planned.statements[:1] == ("BEGIN",):  # one transaction (Citus)
        _run_transaction(cursor, planned.statements, step)
    else:
        for statement in planned.statements:
            _run_statement(cursor, statement, step)
    logger.info("audit_events: %s", step)
    return step


def _run_statement(cursor: Any, statement: str, step: Step) -> None:
    """Run one planned statement at top level, retried on ``lock_timeout``.

    When ``DETACH ... CONCURRENTLY`` times out while waiting for older
    transactions, PostgreSQL has already marked the partition "pending detach";
    the next try must then be ``DETACH ... FINALIZE``.
    """
    current = [statement]

    def attempt() -> None:
        cursor.execute(current[0])

    def before_retry() -> None:
        finalize = _finalize_statement(cursor, step.table)
        if finalize and statement.endswith(" CONCURRENTLY"):
            current[0] = finalize

    try:
        retry_on_lock_timeout(attempt, f"{step.action} {step.table}", before_retry)
    except PartitioningError:
        raise
    except DatabaseError as exc:
        raise PartitioningError(
            f"{step.action} {step.table} failed: {exc} (statement: {current[0]})"
        ) from exc


def _run_transaction(cursor: Any, statements: tuple[str, ...], step: Step) -> None:
    """Run a step that its plan wrapped in ``BEGIN ... COMMIT`` (Citus), retried as a whole.

    Each statement is sent on its own: Citus forwards a multi-statement string
    to the workers, which refuse it.
    """

    def attempt() -> None:
        try:
            for statement in statements:
                cursor.execute(statement)
        except BaseException:
            with contextlib.suppress(DatabaseError):
                cursor.execute("ROLLBACK")
            raise

    try:
        retry_on_lock_timeout(attempt, f"{step.action} {step.table}")
    except PartitioningError:
        raise
    except DatabaseError as exc:
        raise PartitioningError(
            f"{step.action} {step.table} failed: {exc} (statements: {'; '.join(statements)})"
        ) from exc


def _finalize_statement(cursor: Any, table: str) -> str | None:
    cursor.execute(
        "SELECT format('ALTER TABLE %%s DETACH PARTITION %%s FINALIZE', "
        "inhparent::regclass, inhrelid::regclass) "
        "FROM pg_inherits WHERE inhrelid = %s::regclass AND inhdetachpending",
        [table],
    )
    row = cursor.fetchone()
    return str(row[0]) if row else None


# --- Sealing ----------------------------------------------------------------------


def _close(cursor: Any, table: str) -> None:
    retry_on_lock_timeout(lambda: close_day_table(cursor, table), f"close {table} to new rows")


def _seal_plan(using: str, window: _Window) -> list[Step]:
    if window.seal_now is None:
        return []
    return [
        Step("seal", table, day, "close to new rows, record row count and digest")
        for day, table, _state in days_to_seal(using, window.seal_now)
    ]


def _created_seal_plan(
    cursor: Any, window: _Window, created: list[tuple[datetime.date, str]]
) -> list[Step]:
    """Seals of the days the drain makes that are past their grace (sealed after it)."""
    if window.seal_now is None:
        return []
    cutoff = seal_cutoff(window.seal_now)
    steps = []
    for day, parent in created:
        if datetime.datetime.combine(day + _DAY, datetime.time(), tzinfo=datetime.UTC) > cutoff:
            continue
        cursor.execute("SELECT audit_events_partition_name(%s, %s)", [parent, day])
        table = cursor.fetchone()[0]
        steps.append(Step("seal", table, day, "close to new rows, record row count and digest"))
    return steps


def _seal(cursor: Any, using: str, window: _Window) -> list[Step]:
    """Seal every closed day past its grace: close its table, then digest it.

    The trigger is committed first, in its own short transaction (it waits for
    the lock on that one day table only); the digest is then read from a day
    that can no longer change, and never holds a lock that writers wait for.
    """
    if window.seal_now is None:
        return []
    steps = []
    for day, table, state in days_to_seal(using, window.seal_now):
        if state == "live":
            _close(cursor, table)
        found = seal_day(day, table, state, using)
        step = Step("seal", table, day, f"sealed {found.row_count} rows, sha256 {found.digest}")
        logger.info("audit_events: %s", step)
        steps.append(step)
    return steps


# --- Draining the spool -----------------------------------------------------------


def _drain_target(
    cursor: Any, using: str, window: _Window, day: datetime.date
) -> tuple[type[models.Model], bool]:
    """The model whose table receives spooled events of ``day``, and whether it
    still needs a partition for that day.

    The table that has the day wins; a day in neither goes to the archive when
    it is past the archive age, else to the live table.
    """
    live, archive = _models()
    for model in (live, archive):
        cursor.execute(
            "SELECT audit_events_partition_for_day(%s::regclass, %s) IS NOT NULL",
            [_regclass(using, model), day],
        )
        if cursor.fetchone()[0]:
            return model, False
    return (archive if day < window.archive_before else live), True


def _drain_plan(
    cursor: Any,
    using: str,
    window: _Window,
    created: list[tuple[datetime.date, str]],
    only: set[datetime.date] | None = None,
    skip: set[datetime.date] = frozenset(),  # type: ignore[assignment]
) -> list[Step]:
    """The drain's steps; ``created`` gets (day, parent table) of each day it makes."""
    live, _ = _models()
    steps = []
    for day, count in spooled_counts(live, using):
        if (only is not None and day not in only) or day in skip:
            continue
        target, create = _drain_target(cursor, using, window, day)
        if create:
            created.append((day, table_of(target)))
        creating = " (creating its partition)" if create else ""
        steps.append(
            Step(
                "drain",
                table_of(target),
                day,
                f"move {count} spooled events into {table_of(target)}{creating}",
            )
        )
    return steps


def _drain(
    cursor: Any, using: str, window: _Window, only: set[datetime.date] | None = None
) -> list[Step]:
    def target_for_day(day: datetime.date) -> type[models.Model]:
        target, create = _drain_target(cursor, using, window, day)
        if create:  # in the drain's transaction for the day (see drain_checked)
            with connections[using].cursor() as drain_cursor:
                _create_partition(drain_cursor, using, target, day)
        return target

    steps = []
    spool = spool_table(_models()[0])
    for drained in drain_checked(using, target_for_day, only):
        if drained.moved:
            detail = f"moved {drained.moved} spooled events into {drained.target}"
            steps.append(Step("drain", drained.target, drained.day, detail))
        for reason, count in sorted(drained.quarantined.items()):
            detail = f"kept {count} spooled row(s) out of history: {reason}"
            steps.append(Step("quarantine", spool, drained.day, detail))
    for step in steps:
        logger.info("audit_events: %s", step)
    return steps


def _create_partition(
    cursor: Any, using: str, model: type[models.Model], day: datetime.date
) -> None:
    """Make ``model``'s day for the drain, inside the drain's transaction for the day.

    The archive day and its ledger record are two statements of that
    transaction: the day never exists without its record (a kill in between
    would leave an "unrecorded" day, reported as tampering). Each statement is
    sent on its own (Citus refuses a multi-statement string), bounded on the
    workers as every maintenance step (``bound_ddl_on_workers``).
    """
    from audit_events.models import ArchivedDay

    record = model is not _models()[0]

    def attempt() -> None:
        # A savepoint per try: a lock timeout must not abort the drain's transaction.
        with transaction.atomic(using=using):
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                [f"{settings.AUDIT_LOCK_TIMEOUT_MS}ms"],
            )
            bound_ddl_on_workers(cursor, _regclass(using, model))
            cursor.execute(
                "SELECT audit_events_create_day_partition(%s::regclass, %s)",
                [_regclass(using, model), day],
            )
            if record:
                cursor.execute(
                    sql.SQL(
                        "INSERT INTO {} (archive_table, day, archived_at, row_count, digest) "
                        "VALUES (%s, %s, now(), NULL, '') ON CONFLICT (archive_table, day) "
                        "DO UPDATE SET archived_at = EXCLUDED.archived_at"
                    ).format(sql.Identifier(ArchivedDay._meta.db_table)),
                    [table_of(model), day],
                )

    retry_on_lock_timeout(attempt, f"create partition of {table_of(model)} for {day}")
