"""``manage.py archive_audit_events``: move aged days to the archive table, without copying."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from audit_events.lifecycle import archive_older_than
from audit_events.management.commands._lifecycle import (
    add_run_arguments,
    options_of,
    report_run,
    verbosity_of,
)


class Command(BaseCommand):
    help = (
        "Move every live day older than --older-than days (default AUDIT_ARCHIVE_AFTER_DAYS) "
        "to the archive table by detaching and attaching its partition."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--older-than",
            type=int,
            default=None,
            metavar="DAYS",
            help="Archive days older than DAYS days (>= 1).",
        )
        add_run_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        using, dry_run = options_of(options)
        older_than = options["older_than"]
        if older_than is not None and older_than < 1:
            raise CommandError(f"--older-than must be a number of days >= 1; got {older_than}.")
        report_run(
            self,
            lambda: archive_older_than(older_than, using, dry_run=dry_run),
            dry_run,
            verbosity_of(options),
        )
