"""``python -m bench``: run the benchmarks, print the table, update docs/performance.md.

Without ``DATABASE_URL`` a throwaway PostgreSQL is started for the run; with
it, the benchmark creates (and drops) databases of its own on that server.
"""

from __future__ import annotations

import argparse
import os
import shlex
import sys
from collections.abc import Sequence
from importlib import import_module
from pathlib import Path

from bench import db, report
from bench.measure import Result
from bench.run import Run

#: Scenario name -> module (imported once Django is set up), in run order.
SCENARIOS = {
    name: f"bench.{name}"
    for name in (
        "write",
        "http",
        "reads",
        "archive",
        "queries",
        "rotation",
        "memory",
        "upgrade",
        "citus",
    )
}
#: Scenarios that only run when asked for with --only (citus starts a 3-node cluster).
OPT_IN = {"citus"}
DOCS = Path(__file__).resolve().parent.parent / "docs" / "performance.md"


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m bench",
        description="Benchmarks of audit_events, each beside its baseline. Uses DATABASE_URL "
        "if set, else a throwaway embedded PostgreSQL.",
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="small sizes and few repetitions (seconds, not minutes)",
    )
    parser.add_argument(
        "--only",
        action="append",
        choices=sorted(SCENARIOS),
        metavar="SCENARIO",
        help=f"run only this scenario (repeatable): {', '.join(SCENARIOS)} "
        "(citus: only when named)",
    )
    parser.add_argument(
        "--repeat",
        type=int,
        default=None,
        help="repetitions per measurement (default: 2 quick, 5 full)",
    )
    parser.add_argument(
        "--output",
        type=Path,
        default=None,
        help="write the results into this Markdown file (between the markers); "
        "default: docs/performance.md on a full run of every scenario, "
        "nowhere otherwise",
    )
    return parser


def _output(args: argparse.Namespace) -> Path | None:
    if args.output is not None:
        return Path(args.output)
    return None if args.quick or args.only else DOCS


def _run_scenarios(run: Run, names: Sequence[str]) -> list[Result]:
    results: list[Result] = []
    for name in names:
        print(f"--- {name}", file=sys.stderr, flush=True)
        found = import_module(SCENARIOS[name]).run(run)
        print(report.format_table(found), file=sys.stderr, flush=True)
        results += found
    return results


def _facts(server: db.Server) -> list[tuple[str, str]]:
    import psycopg

    with psycopg.connect(server.url, autocommit=True) as conn, conn.cursor() as cursor:
        return report.machine_facts(report.server_facts(cursor, server.embedded))


def main(argv: Sequence[str] | None = None) -> int:
    """Run the selected scenarios; return the exit status."""
    args = _parser().parse_args(argv)
    if args.repeat is not None and args.repeat < 1:
        _parser().error("--repeat must be at least 1")
    names = args.only or [name for name in SCENARIOS if name not in OPT_IN]
    repeat = args.repeat or (2 if args.quick else 5)
    with db.server(os.environ.get("DATABASE_URL")) as server:
        facts = _facts(server)
        db.configure_django(server.create_database("template"))
        db.migrate()
        from django.db import connections

        connections.close_all()  # a template database must have no sessions
        results = _run_scenarios(Run(server, args.quick, repeat), names)
        connections.close_all()
    print(report.format_table(results))
    output = _output(args)
    if output is not None:
        command = "python -m bench " + shlex.join(argv if argv is not None else sys.argv[1:])
        report.write_docs(output, report.generated_section(results, facts, command.strip()))
        print(f"Results written to {output}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
