"""``manage.py rotate_audit_partitions``: one rotation (see ``audit_events.lifecycle.rotate``)."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from audit_events.lifecycle import rotate
from audit_events.management.commands._lifecycle import (
    add_run_arguments,
    options_of,
    report_run,
    verbosity_of,
)


class Command(BaseCommand):
    help = (
        "Repair interrupted work, create partitions ahead, archive aged days, expire archive "
        "days past retention, drain the spool and analyze. Meant for cron; safe to run twice "
        "at once and to interrupt."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        add_run_arguments(parser)

    def handle(self, *args: Any, **options: Any) -> None:
        using, dry_run = options_of(options)
        report_run(self, lambda: rotate(using, dry_run=dry_run), dry_run, verbosity_of(options))
