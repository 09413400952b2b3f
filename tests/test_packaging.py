"""The wheel: a non-editable install carries the migrations and the SQL files."""

import subprocess
import sys
import venv
import zipfile
from pathlib import Path

import pytest

from audit_events.sqlfiles import FUNCTION_FILES

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def wheel(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "wheel",
            "--quiet",
            "--no-deps",
            "--no-build-isolation",
            "--wheel-dir",
            str(out),
            str(ROOT),
        ],
        check=True,
        cwd=out,
    )
    (built,) = out.glob("audit_events-*.whl")
    return built


def test_wheel_carries_migrations_sql_files_and_type_marker(wheel):
    names = set(zipfile.ZipFile(wheel).namelist())
    assert "audit_events/migrations/0001_initial.py" in names
    assert "audit_events/py.typed" in names
    shipped = sorted(path.name for path in (ROOT / "sql").glob("*.sql"))
    assert set(FUNCTION_FILES) <= set(shipped)
    for sql_file in shipped:
        assert f"audit_events/sql/{sql_file}" in names


def test_wheel_carries_the_license_text(wheel):
    """pyproject.toml says BSD-3-Clause; the text itself ships in the wheel's metadata."""
    archive = zipfile.ZipFile(wheel)
    (license_file,) = [n for n in archive.namelist() if n.endswith(".dist-info/licenses/LICENSE")]
    text = archive.read(license_file).decode()
    assert text == (ROOT / "LICENSE").read_text()
    assert text.startswith("BSD 3-Clause License")


def test_non_editable_install_finds_its_sql_files(wheel, tmp_path):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = env_dir / "bin" / "python"
    subprocess.run([python, "-m", "pip", "install", "--quiet", "--no-deps", str(wheel)], check=True)
    probe = (
        "from audit_events.sqlfiles import sql_dir, read_sql, FUNCTION_FILES;"
        "print(sql_dir());"
        "assert all(read_sql(name).strip() for name in FUNCTION_FILES)"
    )
    result = subprocess.run(
        [python, "-c", probe], check=True, capture_output=True, text=True, cwd=tmp_path
    )
    assert result.stdout.strip().startswith(str(env_dir))
