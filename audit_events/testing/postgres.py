"""A throwaway PostgreSQL server for tests, the demo and the benchmarks.

Why not pytest-postgresql's process fixture alone: ``initdb`` and ``pg_ctl``
refuse to run as root, and CI runs as root. When the current user is root the
server binaries are run as an unprivileged OS user (``postgres`` by default,
created if missing) through ``runuser``; the data directory is handed to that
user. As any other user the binaries run directly.

The server listens on 127.0.0.1 on a free port with ``trust`` authentication,
so it must never be used for anything but throwaway data.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "find_bindir"]

_UNPRIVILEGED_USER = "postgres"
_SUPERUSER = "postgres"


class EmbeddedPostgresError(RuntimeError):
    """The throwaway server could not be found, initialised or started."""


def find_bindir(preferred_major: int | None = None) -> Path:
    """Return the directory holding ``initdb`` and ``pg_ctl``.

    Looks at ``AUDIT_EVENTS_PG_BINDIR``, Debian's ``/usr/lib/postgresql/N/bin``
    (newest major first, or ``preferred_major``), then ``PATH``.

    Raises:
        EmbeddedPostgresError: no PostgreSQL server binaries are installed.
    """
    explicit = os.environ.get("AUDIT_EVENTS_PG_BINDIR")
    if explicit:
        return _checked_bindir(Path(explicit))
    candidates = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=_major_of, reverse=True)
    if preferred_major is not None:
        candidates = [c for c in candidates if _major_of(c) == preferred_major]
    for candidate in candidates:
        if (Path(candidate) / "initdb").exists():
            return Path(candidate)
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    raise EmbeddedPostgresError(
        "No PostgreSQL server binaries (initdb, pg_ctl) found. Install them "
        "(Debian: 'apt-get install postgresql'), set AUDIT_EVENTS_PG_BINDIR, "
        "or point DATABASE_URL at an existing server."
    )


def _major_of(path: str) -> int:
    try:
        return int(Path(path).parent.name)
    except ValueError:
        return 0


def _checked_bindir(path: Path) -> Path:
    if not (path / "initdb").exists():
        raise EmbeddedPostgresError(f"AUDIT_EVENTS_PG_BINDIR={path} has no initdb in it.")
    return path


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class EmbeddedPostgres:
    """A PostgreSQL cluster in a temporary directory, started and stopped on demand.

    Use as a context manager, or call :meth:`start` and :meth:`stop`.
    The attributes ``host``, ``port``, ``user``, ``password`` and
    ``maintenance_dbname`` make it usable as pytest-postgresql's ``depends_on``
    base for ``postgresql_noproc``.
    """

    bindir: Path | None = None
    port: int = 0
    datadir: Path | None = None
    server_settings: dict[str, str] = field(default_factory=dict)
    host: str = "127.0.0.1"
    user: str = _SUPERUSER
    password: str = ""
    options: str = ""
    maintenance_dbname: str = "postgres"
    template_dbname: str | None = None
    _owns_datadir: bool = field(default=False, init=False, repr=False)
    _started: bool = field(default=False, init=False, repr=False)

    @property
    def url(self) -> str:
        """A ``postgresql://`` URL of the maintenance database."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{self.maintenance_dbname}"

    def url_for(self, dbname: str) -> str:
        """A ``postgresql://`` URL of database ``dbname`` on this server."""
        return f"postgresql://{self.user}@{self.host}:{self.port}/{dbname}"

    def start(self) -> EmbeddedPostgres:
        """Initialise the cluster if needed and start the server."""
        self.bindir = self.bindir or find_bindir()
        self.port = self.port or _free_port()
        if self.datadir is None:
            self.datadir = Path(tempfile.mkdtemp(prefix="audit-events-pg-"))
            self._owns_datadir = True
        self.datadir.mkdir(parents=True, exist_ok=True)
        self._hand_to_server_user(self.datadir)
        if self._adopt_running_server():
            return self
        if not (self.datadir / "PG_VERSION").exists():
            self._run(
                "initdb",
                "-D",
                str(self.datadir),
                "-U",
                self.user,
                "--auth=trust",
                "-E",
                "UTF8",
                "--locale=C.UTF-8",
                *(["--no-sync"] if self._owns_datadir else []),
            )
        self._run(
            "pg_ctl",
            "-D",
            str(self.datadir),
            "-l",
            str(self.datadir / "server.log"),
            "-o",
            self._server_options(),
            "-w",
            "-t",
            "60",
            "start",
        )
        self._started = True
        return self

    def stop(self) -> None:
        """Stop the server and remove a data directory this object created.

        A throwaway directory is removed, so its server is stopped the fastest
        way (``immediate``, no checkpoint); a kept one is shut down cleanly
        (``fast``: a checkpoint, nothing for crash recovery to replay).
        """
        if self._started and self.datadir is not None:
            mode = "immediate" if self._owns_datadir else "fast"
            with contextlib.suppress(EmbeddedPostgresError):
                self._run("pg_ctl", "-D", str(self.datadir), "-m", mode, "-w", "stop")
            self._started = False
        if self._owns_datadir and self.datadir is not None:
            shutil.rmtree(self.datadir, ignore_errors=True)

    def __enter__(self) -> EmbeddedPostgres:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    def log_tail(self, lines: int = 40) -> str:
        """The last lines of the server log, for error messages."""
        if self.datadir is None:
            return ""
        log = self.datadir / "server.log"
        with contextlib.suppress(OSError):
            return "\n".join(log.read_text(errors="replace").splitlines()[-lines:])
        return ""

    def _adopt_running_server(self) -> bool:
        """Reuse the server a previous process left running on a kept directory.

        A process killed without a clean exit (SIGKILL, a closed terminal)
        leaves its server running and ``postmaster.pid`` in place, and a second
        ``pg_ctl start`` would fail on that lock file. If ``pg_ctl status`` says
        the server runs, this object takes it over (its port is the fourth line
        of ``postmaster.pid``) and stops it in :meth:`stop`; a ``postmaster.pid``
        whose process is gone is left to ``pg_ctl start``, which replaces it.
        """
        pid_file = (self.datadir or Path()) / "postmaster.pid"
        if self._owns_datadir or not pid_file.exists() or not self._server_runs():
            return False
        with contextlib.suppress(OSError, ValueError, IndexError):
            self.port = int(pid_file.read_text().splitlines()[3])
            self._started = True
        return self._started

    def _server_runs(self) -> bool:
        try:
            self._run("pg_ctl", "-D", str(self.datadir), "status")
        except EmbeddedPostgresError:
            return False
        return True

    def _server_options(self) -> str:
        # Sockets go into the data directory so no system directory needs to be
        # writable. A throwaway directory trades durability for speed; a kept
        # one (the demo's) keeps PostgreSQL's durable defaults, or a crash would
        # lose what was committed.
        throwaway = {"fsync": "off", "synchronous_commit": "off", "full_page_writes": "off"}
        settings = {
            "listen_addresses": self.host,
            "port": str(self.port),
            "unix_socket_directories": str(self.datadir),
            **(throwaway if self._owns_datadir else {}),
            "max_connections": "200",
            "max_locks_per_transaction": "256",
            **self.server_settings,
        }
        return " ".join(f"-c {name}={value}" for name, value in settings.items())

    def _run(self, program: str, *args: str) -> None:
        command = [str(self.bindir or find_bindir()) + "/" + program, *args]
        if os.geteuid() == 0:
            command = ["runuser", "-u", _UNPRIVILEGED_USER, "--", *command]
        # The command is built from our own binary paths and arguments, never from input.
        result = subprocess.run(  # noqa: S603
            command,
            capture_output=True,
            text=True,
            check=False,
            cwd="/",
            env={**os.environ, "LC_ALL": "C.UTF-8"},
        )
        if result.returncode != 0:
            raise EmbeddedPostgresError(
                f"{program} failed with exit code {result.returncode}:\n"
                f"{result.stdout}{result.stderr}\n{self.log_tail()}"
            )

    def _hand_to_server_user(self, datadir: Path) -> None:
        if os.geteuid() != 0:
            return
        account = _ensure_unprivileged_user()
        os.chown(datadir, account.pw_uid, account.pw_gid)
        datadir.chmod(0o700)
        # The unprivileged user must be able to walk down to the data directory and
        # to the binaries (e.g. a wheel's PostgreSQL inside a virtualenv under /root).
        _make_traversable(datadir)
        _make_traversable(self.bindir or find_bindir())


def _make_traversable(path: Path) -> None:
    """Give others the search (x) bit on every parent of ``path``."""
    for parent in path.resolve().parents:
        if parent == Path("/"):
            break
        mode = parent.stat().st_mode
        if not mode & 0o001:
            parent.chmod(mode | 0o001)


def _ensure_unprivileged_user() -> pwd.struct_passwd:
    try:
        return pwd.getpwnam(_UNPRIVILEGED_USER)
    except KeyError:
        # Fixed arguments; useradd is found on PATH like any system tool.
        subprocess.run(  # noqa: S603
            ["useradd", "--system", "--no-create-home", _UNPRIVILEGED_USER],  # noqa: S607
            check=True,
        )
        return pwd.getpwnam(_UNPRIVILEGED_USER)
