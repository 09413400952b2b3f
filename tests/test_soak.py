"""Soak: writers record events non-stop while rotation runs again and again, and is hit.

Several writer processes (each its own connection) record events now, on
backdated days and on days with no partition anywhere; a rotation process
rotates in a loop with an archive age that jumps between 2 and 40 days, so
days are created, archived, and receive late events through the spool. The
test meanwhile SIGKILLs the rotation process or terminates its connection
every few seconds and starts a new one. At the end, after one last rotation,
every event a writer logged is stored exactly once (live, archive or spool),
no writer saw an error, and every archived day verifies.

CI runs it for ``AUDIT_SOAK_SECONDS`` (default 20). A long run::

    AUDIT_SOAK_SECONDS=600 AUDIT_SOAK_WRITERS=4 python -m pytest tests/test_soak.py -s

prints the figures (events written, faults survived, worst write latency).
"""

from __future__ import annotations

import json
import os
import random
import time
import uuid
from pathlib import Path

import pytest

from audit_events.lifecycle import rotate
from audit_events.spool import forget_partitioned_days
from audit_events.tamper import verify_archived_days
from tests.fixtures_lifecycle import fresh_layout  # noqa: F401 - fixture
from tests.fixtures_reliability import (
    ROTATE_LOOP,
    WRITE_LOOP,
    assert_each_exactly_once,
    assert_layout_is_sound,
    rotation_backend,
    start_python,
    terminate,
    wait_for,
)

pytestmark = [
    pytest.mark.slow,
    pytest.mark.django_db(transaction=True),
    pytest.mark.usefixtures("fresh_layout"),
]

SECONDS = float(os.environ.get("AUDIT_SOAK_SECONDS", "20"))
WRITERS = int(os.environ.get("AUDIT_SOAK_WRITERS", "3"))


def start_rotator(seconds: float):
    return start_python(ROTATE_LOOP, AUDIT_SECONDS=str(seconds))


def inject_faults(deadline: float) -> dict[str, int]:
    """Until ``deadline``: every 1-3 s, kill the rotation process or cut its connection."""
    rng = random.Random(int(os.environ.get("AUDIT_SOAK_SEED", "5")))
    faults = {"rotation killed (SIGKILL)": 0, "rotation connection terminated": 0}
    rotator = start_rotator(deadline - time.time())
    while time.time() < deadline - 1:
        time.sleep(1 + 2 * rng.random())
        if rng.random() < 0.5:
            rotator.kill()
            faults["rotation killed (SIGKILL)"] += 1
            rotator = start_rotator(max(deadline - time.time(), 0.1))
        else:
            pid = rotation_backend()
            if pid is not None:
                terminate(pid)
                faults["rotation connection terminated"] += 1
    rotator.finish()
    return faults


def test_soak_nothing_lost_no_writer_error(tmp_path: Path, capsys):
    deadline = time.time() + SECONDS
    logs = [tmp_path / f"writer{n}.log" for n in range(WRITERS)]
    writers = [
        start_python(WRITE_LOOP, AUDIT_SECONDS=str(SECONDS), AUDIT_SEED=str(n), AUDIT_LOG=str(log))
        for n, log in enumerate(logs)
    ]
    faults = inject_faults(deadline)
    reports = []
    for writer in writers:
        status, out, err = writer.finish()
        assert status == 0, err
        reports.append(json.loads(out.strip().splitlines()[-1]))

    wait_for(lambda: rotation_backend() is None, "the last rotation to end")
    forget_partitioned_days()
    rotate()  # the next scheduled run, after the faults: it repairs what they left

    ids = [uuid.UUID(line) for log in logs for line in log.read_text().split()]
    assert [r["errors"] for r in reports] == [[]] * WRITERS
    assert_each_exactly_once(ids)
    assert_layout_is_sound()
    # Writers write into old days too: those that rotation sealed (or, killed before
    # sealing, archived) meanwhile are kept in quarantine, as amendments.
    refused = [p for p in verify_archived_days() if p.problem != "amended"]
    assert [p for p in refused if "its day is archived" not in p.detail] == []
    with capsys.disabled():
        print(
            f"\nsoak: {SECONDS:.0f} s, {WRITERS} writers, {len(ids)} events written "
            f"({len(ids) / SECONDS:.0f}/s), faults survived: {faults}, worst write latency "
            f"{max(r['worst_ms'] for r in reports)} ms, writer errors "
            f"{sum(r['error_count'] for r in reports)}"
        )
