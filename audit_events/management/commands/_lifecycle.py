"""What the lifecycle commands share: options and the report of a run."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.core.exceptions import ImproperlyConfigured
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from audit_events.exceptions import RotationInProgress
from audit_events.lifecycle import Step


def add_database_argument(parser: CommandParser) -> None:
    """``--database ALIAS``, refused with a clear message unless it is in DATABASES."""
    parser.add_argument(
        "--database",
        default=DEFAULT_DB_ALIAS,
        choices=list(connections),
        help='The database alias (default: "default").',
    )


def add_run_arguments(parser: CommandParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="Print the plan, change nothing.")
    add_database_argument(parser)


def report_run(
    command: BaseCommand, run: Callable[[], list[Step]], dry_run: bool, verbosity: int = 1
) -> None:
    """Run ``run()`` and print one line per step (nothing with ``verbosity`` 0).

    Another run holding the lock is not a failure (exit status 0); any database
    error becomes a ``CommandError`` (exit status 1) with PostgreSQL's message.
    """
    try:
        steps = run()
    except RotationInProgress as exc:
        if verbosity:
            command.stdout.write(command.style.WARNING(f"Skipped: {exc}"))
        return
    except ImproperlyConfigured as exc:
        raise CommandError(str(exc)) from exc
    except DatabaseError as exc:
        raise CommandError(
            f"audit_events maintenance failed: {exc}. Nothing is lost: run the "
            "command again; it repairs what this run left."
        ) from exc
    if not verbosity:
        return
    prefix = "would " if dry_run else ""
    for step in steps:
        command.stdout.write(f"{prefix}{step}")
    if not steps:
        command.stdout.write("Nothing to do.")


def options_of(options: dict[str, Any]) -> tuple[str, bool]:
    return options["database"], options["dry_run"]


def verbosity_of(options: dict[str, Any]) -> int:
    """Django's ``--verbosity`` (0 prints nothing but errors)."""
    return int(options.get("verbosity", 1))
