"""Helpers of the fault-injection and soak tests: processes, kills, and the final count.

Rotation and writers run as separate processes (as cron and web workers do),
each with its own connections, through ``tests.processes``. A rotation process
can be told to SIGKILL itself after its Nth logged step (``AUDIT_KILL_AFTER``),
right after its first ``DETACH ... CONCURRENTLY`` (``AUDIT_KILL_AFTER_DETACH``)
or its first planned statement containing a string (``AUDIT_KILL_AFTER_STATEMENT``);
``crash_after`` does the same in-process after any statement at all: test-side
hooks, no hook in the library.
"""

from __future__ import annotations

import collections
import contextlib
import signal
import subprocess
import tempfile
import time
import uuid
from collections.abc import Iterator

from django.db import connection
from django.db.backends.utils import CursorWrapper
from psycopg import sql

from audit_events.lifecycle import partition_status
from audit_events.models import ArchivedAuditEvent, AuditEvent
from audit_events.spool import spool_table
from tests.processes import ROOT, process_env, python_command

#: Runs one rotation (``rotate()``), killing itself where the environment says.
ROTATE_ONCE = """
import logging, os, signal
import audit_events.lifecycle as lifecycle

kill_after = int(os.environ.get("AUDIT_KILL_AFTER", "0"))
seen = []

class KillAfterSteps(logging.Handler):
    def emit(self, record):
        seen.append(record.getMessage())
        if len(seen) == kill_after:
            os.kill(os.getpid(), signal.SIGKILL)

logger = logging.getLogger("audit_events")
logger.setLevel(logging.INFO)
logger.addHandler(KillAfterSteps())

kill_after_statement = os.environ.get("AUDIT_KILL_AFTER_STATEMENT")
if os.environ.get("AUDIT_KILL_AFTER_DETACH"):
    kill_after_statement = " CONCURRENTLY"
if kill_after_statement:
    run_statement = lifecycle._run_statement
    def run_then_die(cursor, statement, step):
        run_statement(cursor, statement, step)
        if kill_after_statement in statement:
            os.kill(os.getpid(), signal.SIGKILL)
    lifecycle._run_statement = run_then_die

for step in lifecycle.rotate():
    print(step)
print("messages", len(seen))
"""

#: Rotates again and again until the deadline, surviving whatever happens to a run.
ROTATE_LOOP = """
import json, os, random, time
from django.db import DatabaseError
from django.test import override_settings
from audit_events.exceptions import RotationInProgress
from audit_events.lifecycle import rotate

deadline = time.time() + float(os.environ["AUDIT_SECONDS"])
rng = random.Random(os.getpid())
while time.time() < deadline:
    # Days age fast: the archive age jumps around, so days are archived early
    # and late events for archived days keep arriving through the spool.
    with override_settings(AUDIT_ARCHIVE_AFTER_DAYS=rng.randint(2, 40)):
        try:
            rotate()
            print("run", flush=True)
        except RotationInProgress:
            print("busy", flush=True)
        except DatabaseError as exc:  # a dropped connection: the next run repairs
            print("failed", type(exc).__name__, flush=True)
    time.sleep(rng.random() * 0.2)
"""

#: Records events until the deadline; logs each id, prints counts and latencies.
WRITE_LOOP = """
import datetime, json, os, random, time
from django.contrib.contenttypes.models import ContentType
from audit_events.models import AuditEvent

deadline = time.time() + float(os.environ["AUDIT_SECONDS"])
rng = random.Random(int(os.environ["AUDIT_SEED"]))
ct = ContentType.objects.get_for_model(AuditEvent)
now = datetime.datetime.now(datetime.UTC)
far_days = [now - datetime.timedelta(days=d) for d in (400, 401, 500)]
written, errors, worst = 0, [], 0.0
with open(os.environ["AUDIT_LOG"], "w") as log:
    while time.time() < deadline:
        r = rng.random()
        if r < 0.6:      # now
            when = datetime.datetime.now(datetime.UTC)
        elif r < 0.97:   # backdated: days that rotation creates, archives, or has archived
            when = now - datetime.timedelta(days=rng.randint(2, 45), seconds=rng.randint(0, 86399))
        else:            # far past: no partition anywhere, kept in the spool first
            when = rng.choice(far_days)
        event = AuditEvent(content_type=ct, object_id=str(written), timestamp=when,
                           content={"writer": os.getpid(), "n": written})
        start = time.perf_counter()
        try:
            event.save()
        except Exception as exc:
            errors.append(repr(exc))
            continue
        worst = max(worst, time.perf_counter() - start)
        log.write(f"{event.pk}\\n")
        written += 1
print(json.dumps({"written": written, "errors": errors[:10], "error_count": len(errors),
                  "worst_ms": round(worst * 1000, 1)}))
"""


class Started:
    """A started process whose output goes to files, never to a pipe.

    A pipe nobody reads fills at 64 kB and then blocks the writer on its next
    log line: the soak first measured that as an 18-second "write latency".
    """

    def __init__(self, code: str, env: dict[str, str]) -> None:
        self._out = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by finish()
        self._err = tempfile.TemporaryFile(mode="w+")  # noqa: SIM115 - closed by finish()
        self.process = subprocess.Popen(
            python_command(code),
            env=process_env(**env),
            cwd=ROOT,
            stdout=self._out,
            stderr=self._err,
            text=True,
        )

    def kill(self) -> None:
        self.process.send_signal(signal.SIGKILL)
        self.finish()

    def finish(self, timeout: float = 120) -> tuple[int, str, str]:
        """Wait for the end; return the exit status, stdout and stderr."""
        self.process.wait(timeout=timeout)
        output = []
        for file in (self._out, self._err):
            file.seek(0)
            output.append(file.read())
            file.close()
        return self.process.returncode, output[0], output[1]


def start_python(code: str, **env: str) -> Started:
    """Start ``code`` in a new process on the test database."""
    return Started(code, env)


def rotate_in_process(**env: str) -> subprocess.CompletedProcess:
    """One rotation in a new process; returns it (killed ones have returncode -9)."""
    return subprocess.run(
        python_command(ROTATE_ONCE),
        env=process_env(**env),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def rotation_backend() -> int | None:
    """The pid of the backend holding a rotation's advisory lock, if any."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT pid FROM pg_locks WHERE locktype = 'advisory' AND granted "
            "AND pid <> pg_backend_pid() LIMIT 1"
        )
        row = cursor.fetchone()
    return int(row[0]) if row else None


def terminate(pid: int) -> None:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [pid])


def wait_for(predicate, what: str, timeout: float = 60.0):
    """Poll ``predicate`` until it returns something true (an ordering wait, not a timing test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = predicate()
        if found:
            return found
        time.sleep(0.05)
    raise AssertionError(f"gave up waiting for {what}")


def where_is_everything() -> collections.Counter:
    """How many times each event id is stored: live, archive, spool and quarantine together.

    A late event for a day sealed meanwhile is kept in the quarantine (an amendment).
    """
    from audit_events.models import QuarantinedEvent

    query = sql.SQL(
        "SELECT id FROM {live} UNION ALL SELECT id FROM {archive} UNION ALL SELECT id FROM {spool} "
        "UNION ALL SELECT event_id::uuid FROM {quarantine}"
    ).format(
        live=sql.Identifier(AuditEvent._meta.db_table),
        archive=sql.Identifier(ArchivedAuditEvent._meta.db_table),
        spool=sql.Identifier(spool_table(AuditEvent)),
        quarantine=sql.Identifier(QuarantinedEvent._meta.db_table),
    )
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(connection.connection))
        return collections.Counter(row[0] for row in cursor.fetchall())


def assert_each_exactly_once(ids: list[uuid.UUID]) -> None:
    """Every id in ``ids`` is stored exactly once, and nothing else is stored."""
    found = where_is_everything()
    missing = [i for i in ids if found[i] == 0]
    doubled = [i for i, n in found.items() if n > 1]
    assert (missing, doubled) == ([], []), f"{len(missing)} lost, {len(doubled)} stored twice"
    assert set(found) == set(ids)


def assert_layout_is_sound() -> None:
    """No day table left pending or orphaned."""
    states = collections.Counter(s.state for s in partition_status())
    assert set(states) <= {"live", "archived"}, states


class Crash(BaseException):
    """A simulated kill of this process right after a statement (see ``crash_after``).

    A ``BaseException``, like ``KeyboardInterrupt``: no ``except Exception`` or
    ``except DatabaseError`` of the library catches it, so nothing after the
    statement runs except ``finally`` blocks and transaction rollbacks, which
    is what a kill leaves too (PostgreSQL rolls back an open transaction and
    releases the advisory lock when the connection goes).
    """


@contextlib.contextmanager
def crash_after(
    at: int | None = None, matching: str | None = None, *, before: bool = False
) -> Iterator[list[str]]:
    """Raise ``Crash`` right after the ``at``-th statement (1-based, default 1) that
    any Django cursor of this process runs, counting only those that contain
    ``matching`` if given; with ``before``, right before it instead (after the
    previous one and the commit of its transaction, if it was in one).

    A test-side hook on ``CursorWrapper`` (no hook in the library): every
    statement of a maintenance run counts, the planned DDL as well as the
    planning queries, the spool drain, the digests and the lock calls. It fires
    once. Yields the statements run so far; with neither argument it only counts.
    """
    original = CursorWrapper._execute_with_wrappers
    seen: list[str] = []
    counted = []

    def counting(self, sql, params, many, executor):  # type: ignore[no-untyped-def]
        hit = False
        if matching is None or matching in str(sql):
            counted.append(len(seen) + 1)
            hit = len(counted) == (at or (1 if matching else None))
        if hit and before:
            raise Crash(f"crashed before statement {len(seen) + 1}: {str(sql)[:300]}")
        result = original(self, sql, params, many, executor)
        seen.append(str(sql))
        if hit:
            raise Crash(f"crashed after statement {len(seen)}: {str(sql)[:300]}")
        return result

    CursorWrapper._execute_with_wrappers = counting  # type: ignore[method-assign]
    try:
        yield seen
    finally:
        CursorWrapper._execute_with_wrappers = original  # type: ignore[method-assign]
