"""Scenario "http": a real server under load, with and without audit.

A small site under gunicorn (sync workers, loopback only) whose view reads one
row and records one event through the audit middleware, against the same site
without the middleware whose view only reads the row, and whose view reads the
row and writes the event's row by hand (one raw INSERT: the ceiling of any site
that writes a row per request). Reported: requests per
second under a bounded load (a fixed number of requests from a few client
threads), and the worker CPU one request costs, read from ``/proc`` for the
worker processes. The CPU an event adds is set beside the CPU of the view's own
single-row ``get()`` (the same site serving a view that does not read).
Nothing may be lost: every 2xx response of the audited site is one stored event.
"""

from __future__ import annotations

import http.client
import os
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

from bench.measure import Result, median, median_ratio, skipped
from bench.run import Run

NAME = "http"
WORKERS = 2
CLIENTS = 4
_ROOT = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _cpu_seconds(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _children(pid: int) -> list[int]:
    path = Path(f"/proc/{pid}/task/{pid}/children")
    return [int(p) for p in path.read_text().split()] if path.exists() else []


class _Site:
    """One gunicorn server of the benchmark site, on a free loopback port."""

    def __init__(self, database_url: str, audit: bool) -> None:
        self.port = _free_port()
        env = {
            **os.environ,
            "AUDIT_BENCH_DATABASE_URL": database_url,
            "AUDIT_BENCH_NO_AUDIT": "0" if audit else "1",
            "PYTHONPATH": str(_ROOT),
        }
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "gunicorn",
                "bench.wsgi:application",
                f"--workers={WORKERS}",
                "--worker-class=sync",
                f"--bind=127.0.0.1:{self.port}",
                "--log-level=warning",
            ],
            env=env,
            cwd=_ROOT,
        )
        self._wait_ready()

    def _wait_ready(self) -> None:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError("gunicorn exited at start-up")
            try:
                if self.get("/empty/") == 200 and len(_children(self.process.pid)) == WORKERS:
                    return
            except OSError:
                time.sleep(0.2)
        raise RuntimeError("gunicorn did not answer within 60 s")

    def get(self, path: str) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        try:
            connection.request("GET", path)
            response = connection.getresponse()
            response.read()
            return int(response.status)
        finally:
            connection.close()

    def worker_cpu(self) -> float:
        return sum(_cpu_seconds(pid) for pid in _children(self.process.pid))

    def load(self, path: str, count: int) -> tuple[float, float, int]:
        """``count`` requests from ``CLIENTS`` threads: (req/s, worker CPU µs per request, 2xx)."""
        for _ in range(20):  # warm every worker (connections, prepared statements)
            self.get(path)
        remaining = [count]
        ok = [0]
        lock = threading.Lock()

        def client() -> None:
            while True:
                with lock:
                    if remaining[0] == 0:
                        return
                    remaining[0] -= 1
                status = self.get(path)
                with lock:
                    ok[0] += 200 <= status < 300

        cpu = self.worker_cpu()
        start = time.perf_counter()
        threads = [threading.Thread(target=client) for _ in range(CLIENTS)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        seconds = time.perf_counter() - start
        cpu = self.worker_cpu() - cpu
        return count / seconds, cpu / count * 1e6, ok[0]

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def _all_answered(path: str, ok: int, count: int) -> None:
    # A failing view would be timed as a fast one.
    if ok != count:
        raise RuntimeError(f"GET {path}: {count - ok} of {count} requests failed")


def _stored_events() -> int:
    from audit_events.models import get_audit_event_model

    return int(get_audit_event_model().objects.count())


def run(run: Run) -> list[Result]:
    """Serve the site with and without audit, in alternating rounds."""
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        return [skipped(NAME, "requests under load", "gunicorn is not installed")]
    from django.contrib.auth import get_user_model
    from django.db import connections

    from bench.write import TARGET_USERNAME

    url = run.fresh_database(NAME)
    get_user_model().objects.create(username=TARGET_USERNAME)
    connections.close_all()
    count = run.size(300, 1000)
    audited_rps, plain_rps, hand_rps = [], [], []
    audited_cpu, plain_cpu, hand_cpu, empty_cpu = [], [], [], []
    ok_audited = rows_by_hand = 0
    for rep in range(run.repeat + 1):
        order = [True, False] if rep % 2 else [False, True]
        for audit in order:
            site = _Site(url, audit)
            try:
                if audit:
                    rps, cpu, ok = site.load("/audited/", count)
                    if rep:
                        audited_rps.append(rps)
                        audited_cpu.append(cpu)
                    ok_audited += ok + 20  # the warm-up requests record events too
                else:
                    rps, cpu, ok = site.load("/plain/", count)
                    _all_answered("/plain/", ok, count)
                    rps_by_hand, cpu_by_hand, ok = site.load("/by-hand/", count)
                    _all_answered("/by-hand/", ok, count)
                    rows_by_hand += ok + 20
                    _rps, nothing, ok = site.load("/empty/", count)
                    _all_answered("/empty/", ok, count)
                    if rep:
                        plain_rps.append(rps)
                        plain_cpu.append(cpu)
                        hand_rps.append(rps_by_hand)
                        hand_cpu.append(cpu_by_hand)
                        empty_cpu.append(nothing)
            finally:
                site.stop()
    # The rows by hand share the table: what is left are the audited site's events.
    stored = _stored_events() - rows_by_hand
    event_cpu = [a - p for a, p in zip(audited_cpu, plain_cpu, strict=True)]
    hand_event_cpu = [h - p for h, p in zip(hand_cpu, plain_cpu, strict=True)]
    get_cpu = [p - e for p, e in zip(plain_cpu, empty_cpu, strict=True)]
    throughput = median_ratio(audited_rps, plain_rps)
    cpu_ratio = median_ratio(event_cpu, get_cpu)
    setup = f"gunicorn, {WORKERS} sync workers, {CLIENTS} client threads, {count:,} requests"
    return [
        Result(
            NAME,
            f"requests/s, view reads 1 row + records 1 event ({setup})",
            median(audited_rps),
            "req/s",
            "same site without audit (view reads 1 row)",
            median(plain_rps),
            throughput,
            "≥ 0.8x",
            throughput >= 0.8,
            note=f"{stored:,} events stored for {ok_audited:,} 2xx responses",
        ),
        Result(
            NAME,
            "requests/s, view reads 1 row + writes the same row by hand (raw INSERT)",
            median(hand_rps),
            "req/s",
            "same site without audit (view reads 1 row)",
            median(plain_rps),
            median_ratio(hand_rps, plain_rps),
            note="the ceiling of any site that writes one row per request",
        ),
        Result(
            NAME,
            "requests/s with audit, against the row by hand",
            median(audited_rps),
            "req/s",
            "same site, view writes the same row by hand",
            median(hand_rps),
            median_ratio(audited_rps, hand_rps),
        ),
        Result(
            NAME,
            "worker CPU the row by hand adds",
            median(hand_event_cpu),
            "µs/request",
            "worker CPU of the view's own get() of one row",
            median(get_cpu),
            median_ratio(hand_event_cpu, get_cpu),
        ),
        Result(
            NAME,
            "worker CPU one event adds",
            median(event_cpu),
            "µs/request",
            "worker CPU of the view's own get() of one row",
            median(get_cpu),
            cpu_ratio,
            "≤ 1x",
            cpu_ratio <= 1,
        ),
    ]
