"""Tamper evidence for archived days: a row count and a digest, recorded and verified.

When rotation archives a day it records, in ``ArchivedDay``, how many rows the
day holds and a SHA-256 hash chain over them (``sql/day_digest.sql``, computed
in PostgreSQL while streaming through the day). ``verify_archived_days`` (the
``verify_audit_events`` command) recomputes both and reports every day whose
rows were changed, removed or added since, and every archived day that has
disappeared or appeared without a record.

Computing a digest reads the whole day, so it is never part of the
millisecond detach/attach that moves the day: rotation computes it after the
moves (``record_missing_digests``), still under the rotation's lock.

What it proves, and what not: a row edited by anyone who can bypass the
append-only guard (the table owner, a superuser) shows up, unless that person
also rewrites the ``ArchivedDay`` row. Every recorded digest is logged
(``audit_events`` logger, INFO); keep those logs elsewhere, and a digest
rewritten in the database no longer matches the log.
"""

from __future__ import annotations

import datetime
import logging
from dataclasses import dataclass

from django.db import DEFAULT_DB_ALIAS, connections, models

from audit_events.partitions import list_partitions, table_of

__all__ = [
    "DIGEST_FILES",
    "DayDigest",
    "DayProblem",
    "day_digest",
    "forget_day_digest",
    "record_day_digest",
    "record_missing_digests",
    "verify_archived_days",
]

logger = logging.getLogger("audit_events")

#: The SQL files of tamper evidence (installed by migration 0003).
DIGEST_FILES = ("day_digest.sql",)


@dataclass(frozen=True)
class DayDigest:
    """The number of rows of one UTC day and the SHA-256 hash chain over them."""

    row_count: int
    digest: str


@dataclass(frozen=True)
class DayProblem:
    """One archived day that no longer matches its record.

    Attributes:
        day: the UTC day.
        problem: ``"changed"`` (same number of rows, other content),
            ``"removed"`` (fewer rows), ``"added"`` (more rows), ``"missing"``
            (the day's partition is gone from the archive table) or
            ``"unrecorded"`` (an archive partition without an ``ArchivedDay``
            record) or ``"repaired"`` (such a day, since recorded by rotation:
            its rows before ``ArchivedDay.repaired_at`` are vouched for by
            nothing, so it stays reported).
        recorded: what was recorded at archive time (``None`` if nothing).
        found: what the archive table holds now.
    """

    day: datetime.date
    problem: str
    recorded: DayDigest | None
    found: DayDigest

    def __str__(self) -> str:
        recorded = f"{self.recorded.row_count} rows" if self.recorded else "no record"
        return (
            f"{self.day:%Y-%m-%d}: {self.problem} (recorded: {recorded}; "
            f"found: {self.found.row_count} rows, digest {self.found.digest[:16]}...)"
        )


def day_digest(
    model: type[models.Model], day: datetime.date, using: str = DEFAULT_DB_ALIAS
) -> DayDigest:
    """Count and hash ``model``'s rows of UTC day ``day`` (in PostgreSQL, streaming).

    Args:
        model: a day-partitioned event model (usually the archive model).
        day: the UTC day.
        using: the database alias.

    Returns:
        The row count and the hex SHA-256 hash chain (``sql/day_digest.sql``).
    """
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT row_count, digest FROM audit_events_day_digest(%s::regclass, %s)",
            [connection.ops.quote_name(table_of(model)), day],
        )
        row_count, digest = cursor.fetchone()
    return DayDigest(int(row_count), str(digest))


def record_day_digest(
    archive_model: type[models.Model], day: datetime.date, using: str = DEFAULT_DB_ALIAS
) -> DayDigest:
    """Compute the digest of an archived day and store it in its ``ArchivedDay``.

    Rotation calls it after archiving a day and after draining late events into
    an archived day; the digest is also logged so that a copy lives outside the
    database.

    Args:
        archive_model: the archive model (``get_audit_event_archive_model()``).
        day: the UTC day.
        using: the database alias.

    Returns:
        The digest recorded.
    """
    from audit_events.models import ArchivedDay

    found = day_digest(archive_model, day, using)
    ArchivedDay.objects.using(using).update_or_create(
        archive_table=table_of(archive_model),
        day=day,
        defaults={"row_count": found.row_count, "digest": found.digest},
    )
    logger.info(
        "audit_events: digest of %s %s: %d rows, sha256 %s",
        table_of(archive_model),
        day,
        found.row_count,
        found.digest,
    )
    return found


def record_missing_digests(using: str = DEFAULT_DB_ALIAS) -> list[datetime.date]:
    """Record the digest of every archived day that has none yet.

    Only days whose partition is attached to the archive table: a day recorded
    but not (or no longer) there is for ``verify_archived_days`` to report.

    Returns:
        The days digested, in order.
    """
    from audit_events.models import ArchivedDay, get_audit_event_archive_model

    archive = get_audit_event_archive_model()
    attached = {p.day for p in list_partitions(archive, using) if not p.detach_pending}
    days = [
        day
        for day in ArchivedDay.objects.using(using)
        .filter(archive_table=table_of(archive), digest="")
        .order_by("day")
        .values_list("day", flat=True)
        if day in attached
    ]
    for day in days:
        record_day_digest(archive, day, using)
    return days


def forget_day_digest(
    archive_model: type[models.Model], day: datetime.date, using: str = DEFAULT_DB_ALIAS
) -> None:
    """Mark an archived day's digest as stale after a legitimate change.

    Rotation calls it after draining late (spooled) events into an archived
    day; its next step records the digest again.
    """
    from audit_events.models import ArchivedDay

    ArchivedDay.objects.using(using).filter(archive_table=table_of(archive_model), day=day).update(
        digest="", row_count=None
    )
    logger.info(
        "audit_events: %s %s changed by rotation; its digest is recorded again",
        table_of(archive_model),
        day,
    )


def verify_archived_days(
    using: str = DEFAULT_DB_ALIAS, *, days: list[datetime.date] | None = None
) -> list[DayProblem]:
    """Recompute every recorded archived day and report those that do not match.

    Days recorded without a digest yet (archived by the SQL path, before the
    next rotation records it) are not reported: there is nothing to compare.

    Args:
        using: the database alias.
        days: only these UTC days (default: every archived day).

    Returns:
        The problems, in day order; empty when every day matches.
    """
    from audit_events.lifecycle import partition_status
    from audit_events.models import ArchivedDay, get_audit_event_archive_model

    archive = get_audit_event_archive_model()
    records = {
        r.day: r
        for r in ArchivedDay.objects.using(using).filter(archive_table=table_of(archive))
        if days is None or r.day in days
    }
    stored = {
        s.day
        for s in partition_status(using)
        if s.state == "archived" and (days is None or s.day in days)
    }
    problems = [_check(archive, r, r.day in stored, using) for r in records.values()]
    problems += [
        DayProblem(day, "unrecorded", None, day_digest(archive, day, using))
        for day in stored - records.keys()
    ]
    return sorted((p for p in problems if p is not None), key=lambda p: p.day)


def _check(
    archive: type[models.Model], record: models.Model, stored: bool, using: str
) -> DayProblem | None:
    if not record.digest:  # type: ignore[attr-defined]
        return _repaired(archive, record, None, None, using)
    recorded = DayDigest(record.row_count, record.digest)  # type: ignore[attr-defined]
    found = day_digest(archive, record.day, using)  # type: ignore[attr-defined]
    if not stored:
        return DayProblem(record.day, "missing", recorded, found)  # type: ignore[attr-defined]
    if found == recorded:
        return _repaired(archive, record, recorded, found, using)
    if found.row_count == recorded.row_count:
        problem = "changed"
    else:
        problem = "removed" if found.row_count < recorded.row_count else "added"
    return DayProblem(record.day, problem, recorded, found)  # type: ignore[attr-defined]


def _repaired(
    archive: type[models.Model],
    record: models.Model,
    recorded: DayDigest | None,
    found: DayDigest | None,
    using: str,
) -> DayProblem | None:
    """A record made by rotation's repair is never clean: reporting it as such
    would launder a day whose record was deleted (see ``ArchivedDay.repaired_at``)."""
    if record.repaired_at is None:  # type: ignore[attr-defined]
        return None
    day = record.day  # type: ignore[attr-defined]
    return DayProblem(day, "repaired", recorded, found or day_digest(archive, day, using))
