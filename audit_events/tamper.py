"""Tamper evidence: each closed day is sealed (row count and digest), then verified.

**Sealing.** Rotation seals every day of the event table once it is over and
``AUDIT_SEAL_GRACE_HOURS`` have passed (late events): it first closes the day's
partition to new rows (a ``BEFORE INSERT`` trigger, ``sql/seal_guard.sql``),
then records in ``SealedDay`` how many rows the day holds and a SHA-256 digest
of them (``sql/day_digest.sql``, computed in PostgreSQL). The seal stays with
the day when it is archived, so archiving reads no row: it only moves a sealed
day. A day archived before it was sealed (rotation never ran) is sealed by the
next rotation, and reported as unsealed meanwhile.

**Late events.** An event for a sealed day is refused by the partition, kept in
the spool by the writer, and quarantined by rotation as an *amendment* of that
day (``audit_events.quarantine``): never folded into the seal, always reported
by ``verify_audit_events`` with the ids it would have added.

**Verifying.** ``verify_days`` (the ``verify_audit_events`` command) recomputes
the digest of every sealed day, live or archived, and reports each day whose
rows were changed, removed or added since, each closed day that is not sealed,
each sealed or archived day whose partition is gone, each archive day without a
ledger record, and the quarantined spool rows.

What it proves, and what not: a row edited by anyone who can bypass the
append-only guard (the table owner, a superuser) shows up, unless that person
also rewrites the ``SealedDay`` row. Every seal is logged (``audit_events``
logger, INFO); keep those logs elsewhere, and a seal rewritten in the database
no longer matches the log. Between an event and its day's seal (the rest of the
day, the grace and the time until the next rotation) an edit leaves no trace:
see docs/reliability.md for how to shorten that window.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass
from typing import Any

from django.db import DEFAULT_DB_ALIAS, connections, models
from psycopg import sql

from audit_events.conf import settings
from audit_events.partitions import table_of

__all__ = [
    "DIGEST_FILES",
    "SEAL_FILES",
    "SEAL_TRIGGER",
    "DayDigest",
    "DayProblem",
    "day_digest",
    "days_to_seal",
    "seal_day",
    "verify_archived_days",
    "verify_days",
]

logger = logging.getLogger("audit_events")

#: The SQL files of tamper evidence (``day_digest.sql``: migration 0003; the
#: trigger function that closes a sealed day: migration 0004).
DIGEST_FILES = ("day_digest.sql",)
SEAL_FILES = ("seal_guard.sql", "seal_day.sql")
#: Name of the trigger that closes a sealed day's partition to new rows.
SEAL_TRIGGER = "audit_events_sealed"


@dataclass(frozen=True)
class DayDigest:
    """The number of rows of one UTC day and the SHA-256 digest over them."""

    row_count: int
    digest: str


@dataclass(frozen=True)
class DayProblem:
    """One day that does not match its seal, or that verify cannot vouch for.

    Attributes:
        day: the UTC day (``None`` for a quarantined row without a usable day).
        problem: ``"changed"`` (same number of rows, other content),
            ``"removed"`` (fewer rows), ``"added"`` (more rows), ``"missing"``
            (the partition of a sealed or archived day is gone),
            ``"unrecorded"`` (an archive partition without an ``ArchivedDay``
            record), ``"repaired"`` (such a day, since recorded by rotation:
            its rows before ``ArchivedDay.repaired_at`` are vouched for by
            nothing, so it stays reported), ``"unsealed"`` (a closed day past
            its grace with no seal), ``"amended"`` (late events for a sealed
            day, held in quarantine) or ``"quarantined"`` (spooled rows refused
            for another reason).
        recorded: the seal (``None`` if there is none).
        found: what the tables hold now (``None`` when not computed).
        detail: what changed, in words (ids of amendments, reasons).
    """

    day: datetime.date | None
    problem: str
    recorded: DayDigest | None
    found: DayDigest | None
    detail: str = ""

    def __str__(self) -> str:
        day = f"{self.day:%Y-%m-%d}" if self.day else "(no day)"
        if self.problem in ("amended", "quarantined"):
            return f"{day}: {self.problem}: {self.detail}"
        recorded = f"{self.recorded.row_count} rows" if self.recorded else "no seal"
        found = (
            f"{self.found.row_count} rows, digest {self.found.digest[:16]}..."
            if self.found
            else "not computed"
        )
        return f"{day}: {self.problem} (sealed: {recorded}; found: {found})"


def day_digest(
    model: type[models.Model],
    day: datetime.date,
    using: str = DEFAULT_DB_ALIAS,
    columns: list[str] | None = None,
) -> DayDigest:
    """Count and hash ``model``'s rows of UTC day ``day`` (in PostgreSQL).

    Args:
        model: a day-partitioned event model (live or archive).
        day: the UTC day.
        using: the database alias.
        columns: the columns to hash (default: every column the table has now).

    Returns:
        The row count and the hex SHA-256 digest (``sql/day_digest.sql``).
    """
    return _digest(model, day, using, columns)[0]


def _digest(
    model: type[models.Model], day: datetime.date, using: str, columns: list[str] | None
) -> tuple[DayDigest, list[str]]:
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT row_count, digest, hashed_columns "
            "FROM audit_events_day_digest(%s::regclass, %s, %s::name[])",
            [connection.ops.quote_name(table_of(model)), day, columns],
        )
        row_count, digest, hashed = cursor.fetchone()
    return DayDigest(int(row_count), str(digest)), list(hashed)


# --- Sealing ----------------------------------------------------------------------


def seal_cutoff(now: datetime.datetime) -> datetime.datetime:
    """Days that ended at or before this time are past their grace and get sealed."""
    return now - datetime.timedelta(hours=settings.AUDIT_SEAL_GRACE_HOURS)


def days_to_seal(using: str, now: datetime.datetime) -> list[tuple[datetime.date, str, str]]:
    """The closed days past their grace that have no seal yet.

    Returns:
        ``(day, day table, state)`` for each, in day order; ``state`` is
        ``"live"`` or ``"archived"``.
    """
    from audit_events.lifecycle import partition_status
    from audit_events.models import SealedDay, get_audit_event_model

    sealed = set(
        SealedDay.objects.using(using)
        .filter(event_table=table_of(get_audit_event_model()))
        .values_list("day", flat=True)
    )
    cutoff = seal_cutoff(now)
    return [
        (s.day, s.table, s.state)
        for s in partition_status(using)
        if s.state in ("live", "archived") and s.upper_bound <= cutoff and s.day not in sealed
    ]


def close_day_table(cursor: Any, table: str) -> None:
    """Put the sealed-day trigger on ``table`` (a day partition): it takes no new rows."""
    cursor.execute(
        sql.SQL(
            "CREATE OR REPLACE TRIGGER {} BEFORE INSERT ON {} FOR EACH ROW "
            "EXECUTE FUNCTION audit_events_refuse_sealed_day()"
        )
        .format(sql.Identifier(SEAL_TRIGGER), sql.SQL(table))
        .as_string(cursor.connection)
    )


def seal_day(
    day: datetime.date, table: str, state: str, using: str = DEFAULT_DB_ALIAS
) -> DayDigest:
    """Record the seal (row count and digest) of one closed day.

    The caller closes a live day's table first (``close_day_table``), so that
    no row can arrive between the digest and its record. Also copies the seal
    into the day's ``ArchivedDay`` record when the day is archived.

    Args:
        day: the UTC day.
        table: its day table (for the log).
        state: ``"live"`` or ``"archived"``: which table holds the day.
        using: the database alias.

    Returns:
        The seal recorded.
    """
    from audit_events.models import (
        SealedDay,
        get_audit_event_archive_model,
        get_audit_event_model,
    )

    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    found, columns = _digest(live if state == "live" else archive, day, using, None)
    SealedDay.objects.using(using).create(
        event_table=table_of(live),
        day=day,
        row_count=found.row_count,
        digest=found.digest,
        hashed_columns=columns,
    )
    copy_seals_to_archived_days(using, days=[day])
    logger.info(
        "audit_events: sealed %s %s: %d rows, sha256 %s", table, day, found.row_count, found.digest
    )
    return found


def copy_seals_to_archived_days(
    using: str = DEFAULT_DB_ALIAS, days: list[datetime.date] | None = None
) -> int:
    """Show each archived day's seal in its ``ArchivedDay`` record (no row is read).

    Returns:
        The number of ``ArchivedDay`` records updated.
    """
    from audit_events.models import (
        ArchivedDay,
        SealedDay,
        get_audit_event_archive_model,
        get_audit_event_model,
    )

    seals = SealedDay.objects.using(using).filter(event_table=table_of(get_audit_event_model()))
    records = ArchivedDay.objects.using(using).filter(
        archive_table=table_of(get_audit_event_archive_model()), digest=""
    )
    if days is not None:
        seals, records = seals.filter(day__in=days), records.filter(day__in=days)
    by_day = {s.day: s for s in seals.filter(day__in=records.values("day"))}
    for record in records.filter(day__in=list(by_day)):
        seal = by_day[record.day]
        record.row_count, record.digest = seal.row_count, seal.digest
        record.save(update_fields=["row_count", "digest"])
    return len(by_day)


# --- Verifying --------------------------------------------------------------------


def verify_days(
    using: str = DEFAULT_DB_ALIAS,
    *,
    days: list[datetime.date] | None = None,
    now: datetime.datetime | None = None,
) -> list[DayProblem]:
    """Recompute every sealed day, live or archived, and report what does not match.

    Also reports closed days past their grace without a seal (``"unsealed"``),
    the partitions of sealed or archived days that are gone, archive days
    without a record, and quarantined spool rows (amendments of sealed days
    and other refused rows).

    Args:
        using: the database alias.
        days: only these UTC days (default: every day).
        now: the time to judge the grace by (default: now).

    Returns:
        The problems, in day order; empty only when every closed day is sealed
        and matches its seal, and nothing is in quarantine.
    """
    from audit_events.lifecycle import partition_status
    from audit_events.models import ArchivedDay, SealedDay, get_audit_event_archive_model
    from audit_events.models import get_audit_event_model as live_model

    def wanted(day: datetime.date) -> bool:
        return days is None or day in days

    statuses = [s for s in partition_status(using) if s.state in ("live", "archived")]
    stored = {s.day: s.state for s in statuses if wanted(s.day)}
    seals = {
        s.day: s
        for s in SealedDay.objects.using(using).filter(event_table=table_of(live_model()))
        if wanted(s.day)
    }
    archive = get_audit_event_archive_model()
    ledger = ArchivedDay.objects.using(using).filter(archive_table=table_of(archive))
    records = {day for day in ledger.values_list("day", flat=True) if wanted(day)}
    repaired = {
        day for day in ledger.exclude(repaired_at=None).values_list("day", flat=True) if wanted(day)
    }
    problems = [_check(seal, stored.get(day), using) for day, seal in seals.items()]
    cutoff = seal_cutoff(now or datetime.datetime.now(datetime.UTC))
    problems += [
        DayProblem(s.day, "unsealed", None, None, "closed, past its grace, not sealed yet")
        for s in statuses
        if s.day in stored and s.day not in seals and s.upper_bound <= cutoff
    ]
    problems += [
        DayProblem(day, "missing", None, None, "archived, but its partition is gone")
        for day in records - stored.keys() - seals.keys()
    ]
    problems += [
        DayProblem(day, "unrecorded", None, None, "archive partition without a ledger record")
        for day, state in stored.items()
        if state == "archived" and day not in records
    ]
    # A record made by rotation's repair is never clean: reporting it as such
    # would launder a day whose record was deleted (see ArchivedDay.repaired_at).
    problems += [
        DayProblem(day, "repaired", None, None, "archive record made by rotation's repair")
        for day in repaired & stored.keys()
    ]
    from audit_events.quarantine import quarantine_problems

    problems += [p for p in quarantine_problems(using) if p.day is None or wanted(p.day)]
    return sorted(
        (p for p in problems if p is not None),
        key=lambda p: (p.day or datetime.date.min, p.problem),
    )


def open_days(using: str, now: datetime.datetime | None = None) -> list[datetime.date]:
    """Closed days still within their grace: not sealed yet, by design."""
    from audit_events.lifecycle import partition_status

    now = now or datetime.datetime.now(datetime.UTC)
    cutoff = seal_cutoff(now)
    return [
        s.day
        for s in partition_status(using)
        if s.state == "live" and cutoff < s.upper_bound <= now
    ]


#: The name ``verify_audit_events`` used before live days were sealed too.
verify_archived_days = verify_days


def _check(seal: Any, state: str | None, using: str) -> DayProblem | None:
    from audit_events.models import get_audit_event_archive_model, get_audit_event_model

    recorded = DayDigest(seal.row_count, seal.digest)
    if state is None:
        return DayProblem(seal.day, "missing", recorded, None, "sealed, but its partition is gone")
    model = get_audit_event_model() if state == "live" else get_audit_event_archive_model()
    found = day_digest(model, seal.day, using, list(seal.hashed_columns))
    if found == recorded:
        return None
    if found.row_count == recorded.row_count:
        problem = "changed"
    else:
        problem = "removed" if found.row_count < recorded.row_count else "added"
    return DayProblem(seal.day, problem, recorded, found)
