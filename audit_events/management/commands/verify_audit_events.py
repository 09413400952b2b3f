"""``manage.py verify_audit_events``: report archived days changed since they were archived."""

from __future__ import annotations

import datetime
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit_events.management.commands._lifecycle import add_database_argument
from audit_events.tamper import verify_archived_days


class Command(BaseCommand):
    help = (
        "Recount and rehash every archived day and report each day whose rows were changed, "
        "removed or added since it was archived. Exits with status 1 if any."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--day",
            action="append",
            type=datetime.date.fromisoformat,
            metavar="YYYY-MM-DD",
            help="Only verify this UTC day (repeatable). Default: every archived day.",
        )
        add_database_argument(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        problems = verify_archived_days(options["database"], days=options["day"])
        for problem in problems:
            self.stdout.write(self.style.ERROR(str(problem)))
        if problems:
            raise CommandError(f"{len(problems)} archived day(s) do not match their record.")
        if options.get("verbosity", 1):
            self.stdout.write(self.style.SUCCESS("Every archived day matches its record."))
