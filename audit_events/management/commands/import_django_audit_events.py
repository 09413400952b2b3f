"""``manage.py import_django_audit_events``: move django-audit-events' rows into our tables."""

from __future__ import annotations

import sys
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit_events import upgrade


class Command(BaseCommand):
    help = (
        "Copy the events of django-audit-events (live and archived) into audit_events' "
        "tables, day by day; resumable and idempotent. The source tables are only read."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--database", default="default", help="Database alias.")
        parser.add_argument(
            "--dry-run", action="store_true", help="Show the plan (days, rows); copy nothing."
        )
        parser.add_argument(
            "--verify-only", action="store_true", help="Only compare counts per day."
        )
        parser.add_argument(
            "--drop-source-tables",
            action="store_true",
            help="After a verification that finds every row, drop the original's tables.",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        if options["dry_run"]:
            self._show_plan(using)
            return
        if options["drop_source_tables"]:
            try:
                dropped = upgrade.drop_sources(using)
            except ValueError as exc:
                raise CommandError(str(exc)) from exc
            self.stdout.write(f"Dropped {', '.join(dropped) or 'nothing (no source table)'}.")
            return
        if not options["verify_only"]:
            self._copy(using)
        self._verify(using)

    def _show_plan(self, using: str) -> None:
        days = upgrade.plan(using)
        for day in days:
            state = "done" if day.done else f"copy {day.rows - day.copied}"
            self.stdout.write(
                f"{day.source:<8}{day.day}  {day.rows:>9} rows  -> {day.target}  {state}"
            )
        todo = [d for d in days if not d.done]
        self.stdout.write(
            f"Plan: {len(todo)} of {len(days)} source days to copy, "
            f"{sum(d.rows - d.copied for d in todo)} rows."
        )

    def _copy(self, using: str) -> None:
        todo = [d for d in upgrade.plan(using) if not d.done]
        total_rows = sum(d.rows - d.copied for d in todo)
        started, state = time.monotonic(), {"days": 0, "rows": 0}
        terminal = self.stdout.isatty() if hasattr(self.stdout, "isatty") else sys.stdout.isatty()

        def report(day: upgrade.DayPlan, copied: int) -> None:
            state["days"] += 1
            state["rows"] += copied
            rate = upgrade.rate(state["rows"], started)
            eta = (total_rows - state["rows"]) / rate if rate else 0.0
            line = (
                f"{state['days']}/{len(todo)} days  {state['rows']}/{total_rows} rows  "
                f"{rate:,.0f} rows/s  ETA {eta:,.0f} s"
            )
            if terminal:
                done = int(30 * state["rows"] / max(total_rows, 1))
                self.stdout.write(f"\r[{'#' * done}{' ' * (30 - done)}] {line}", ending="")
            else:
                self.stdout.write(f"{day.source} {day.day}: {copied} rows; {line}")

        copied = upgrade.upgrade(using, progress=report)
        if terminal and todo:
            self.stdout.write("")
        self.stdout.write(f"Copied {copied} rows in {time.monotonic() - started:.1f} s.")

    def _verify(self, using: str) -> None:
        mismatches = upgrade.verify(using)
        for mismatch in mismatches:
            self.stderr.write(f"MISMATCH {mismatch}")
        if mismatches:
            raise CommandError(f"Verification failed for {len(mismatches)} source day(s).")
        self.stdout.write("Verified: every source row is in audit_events (counts per day match).")
        recorded, problems = upgrade.record_and_verify_digests(using)
        for problem in problems:
            self.stderr.write(f"DIGEST {problem}")
        if problems:
            raise CommandError(f"{len(problems)} archived day(s) do not match their digest.")
        self.stdout.write(
            f"Tamper digests: {len(recorded)} archived day(s) recorded now; all imported "
            "archive days match."
        )
