"""``python -m bench.probe ACTION URL [DAY]``: peak memory of one library call, in its own process.

Prints JSON: ``python_peak`` (bytes allocated by Python at the peak of the
call, from tracemalloc) and ``max_rss`` (the process's peak resident size in
bytes, imports included). Each probe is a fresh process, so one call's peak
cannot hide behind an earlier one's.
"""

from __future__ import annotations

import datetime
import json
import resource
import sys
import tracemalloc
from collections.abc import Callable


def _action(name: str, argv: list[str]) -> Callable[[], object]:
    from bench import archive, rotation

    if name == "status":
        return rotation.status_function()[1]
    if name == "archive":
        day = datetime.date.fromisoformat(argv[0])
        return lambda: archive.archive_day(day)
    raise SystemExit(f"unknown probe action {name!r}; use 'status' or 'archive'")


def main(argv: list[str]) -> None:
    from bench.db import configure_django

    configure_django(argv[1])
    from django.db import connection

    work = _action(argv[0], argv[2:])
    connection.ensure_connection()  # connecting and importing are not what is measured
    tracemalloc.start()
    work()
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    connection.close()
    max_rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux
    print(json.dumps({"python_peak": peak, "max_rss": max_rss}))


if __name__ == "__main__":
    main(sys.argv[1:])
