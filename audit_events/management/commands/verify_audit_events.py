"""``manage.py verify_audit_events``: report days that do not match their seal."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit_events.management.commands._lifecycle import add_database_argument
from audit_events.tamper import open_days, verify_days


class Command(BaseCommand):
    help = (
        "Recount and rehash every sealed day, live or archived, and report each day whose "
        "rows were changed, removed or added since it was sealed, each closed day not sealed, "
        "and every amendment or spooled row held in quarantine. Exits with status 1 if any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--day",
            action="append",
            type=datetime.date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="Only verify this UTC day (repeatable). Default: every day.",
        )
        add_database_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        using = options["database"]
        problems = verify_days(using, days=options["day"])
        for problem in problems:
            self.stdout.write(self.style.ERROR(str(problem)))
        if problems:
            raise CommandError(f"{len(problems)} problem(s): the log is not verified clean.")
        waiting = [d for d in open_days(using) if not options["day"] or d in options["day"]]
        if not options.get("verbosity", 1):
            return
        if waiting:
            days = ", ".join(f"{d:%Y-%m-%d}" for d in waiting)
            self.stdout.write(
                self.style.WARNING(
                    f"Not sealed yet, within AUDIT_SEAL_GRACE_HOURS: {days}. Every sealed day "
                    "matches its seal."
                )
            )
            return
        self.stdout.write(self.style.SUCCESS("Every closed day is sealed and matches its seal."))
