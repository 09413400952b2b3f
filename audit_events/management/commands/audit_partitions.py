"""``manage.py audit_partitions``: the day tables of both event tables, and warnings."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser
from django.db import connections

from audit_events.lifecycle import PartitionStatus, days_made_ahead, partition_status
from audit_events.management.commands._lifecycle import add_database_argument
from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.partitions import table_of
from audit_events.quarantine import quarantined_count
from audit_events.spool import spooled_counts

#: Fewer live days made ahead than this gets a warning: rotation is not running.
MIN_DAYS_AHEAD = 3


class Command(BaseCommand):
    help = (
        "Show every partition of the event and archive tables (state, bounds, estimated "
        "rows, size), the spool, and warn when too few days are made ahead."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_database_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        statuses = partition_status(options["database"])
        if options.get("verbosity", 1):
            self.stdout.write(
                f"{'table':<48} {'state':<9} {'from (UTC)':<17} {'rows':>12} {'size':>10}"
            )
            for status in statuses:
                self.stdout.write(_line(status))
        self._report_spool(options["database"])
        self._warn(statuses)
        self._warn_owners(options["database"])

    def _report_spool(self, using: str) -> None:
        waiting = sum(count for _day, count in spooled_counts(get_audit_event_model(), using))
        if waiting:
            self.stderr.write(
                self.style.WARNING(
                    f"{waiting} events wait in the spool for a partition: run "
                    "rotate_audit_partitions."
                )
            )
        held = quarantined_count(using)
        if held:
            self.stdout.write(
                self.style.WARNING(
                    f"{held} spooled row(s) are held in quarantine, out of history: run "
                    "verify_audit_events to see them (docs/reliability.md)."
                )
            )

    def _warn(self, statuses: list[PartitionStatus]) -> None:
        ahead = days_made_ahead(statuses)
        if ahead < MIN_DAYS_AHEAD:
            self.stderr.write(
                self.style.WARNING(
                    f"Only {ahead} day(s) have partitions ahead of today (fewer than "
                    f"{MIN_DAYS_AHEAD}): is rotate_audit_partitions scheduled?"
                )
            )
        for status in statuses:
            if status.state in ("pending", "orphan"):
                self.stderr.write(
                    self.style.WARNING(
                        f"{status.table} is {status.state}: rotate_audit_partitions repairs it."
                    )
                )

    def _warn_owners(self, using: str) -> None:
        for table, owner, parent_owner in _foreign_owned(using):
            self.stderr.write(
                self.style.WARNING(
                    f"{table} is owned by {owner}, not by {parent_owner} (the owner of its "
                    f"parent): rotation cannot move it until {owner} or a superuser runs "
                    f"ALTER TABLE {table} OWNER TO {parent_owner} (a superuser's rotation does)."
                )
            )


def _foreign_owned(using: str) -> list[tuple[str, str, str]]:
    """Day tables owned by another role than their parent's (or the live table's) owner."""
    live, archive = get_audit_event_model(), get_audit_event_archive_model()
    quote = connections[using].ops.quote_name
    with connections[using].cursor() as cursor:
        cursor.execute(
            "SELECT s.table_name, c.relowner::regrole::text, p.relowner::regrole::text "
            "FROM audit_events_partition_status(%s::regclass, %s::regclass) AS s "
            "JOIN pg_class AS c ON c.oid = s.table_name::regclass "
            "JOIN pg_class AS p ON p.oid = coalesce(s.parent, %s)::regclass "
            "WHERE c.relowner <> p.relowner ORDER BY s.lower_bound",
            [quote(table_of(live)), quote(table_of(archive)), quote(table_of(live))],
        )
        return [(str(a), str(b), str(c)) for a, b, c in cursor.fetchall()]


def _line(status: PartitionStatus) -> str:
    rows = "?" if status.estimated_rows is None else f"{status.estimated_rows:,}"
    return (
        f"{status.table:<48} {status.state:<9} {status.lower_bound:%Y-%m-%d %H:%M} "
        f"{rows:>12} {_size(status.size_bytes):>10}"
    )


def _size(size: int) -> str:
    for unit in ("B", "kB", "MB", "GB"):
        if size < 1024:
            return f"{size} {unit}"
        size //= 1024
    return f"{size} TB"
