"""The benchmark runs end to end (numbers are not checked: speed is shown by bench/, not tests)."""

import os
import subprocess
import sys
from pathlib import Path

from bench.report import BEGIN, END

ROOT = Path(__file__).resolve().parent.parent


def test_quick_benchmark_prints_its_table_and_writes_the_generated_section(
    postgresql_noproc, tmp_path
):
    page = tmp_path / "performance.md"
    page.write_text(f"# Hand-written\n\n{BEGIN}\nold\n{END}\n\nMore prose.\n")
    server = postgresql_noproc
    login = f"{server.user}:{server.password}" if server.password else server.user
    env = {
        **os.environ,
        "PYTHONPATH": str(ROOT),
        "DATABASE_URL": f"postgresql://{login}@{server.host}:{server.port}/postgres",
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)

    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "bench",
            "--quick",
            "--only",
            "write",
            "--repeat",
            "1",
            "--output",
            str(page),
        ],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )

    assert result.returncode == 0, result.stderr
    assert "| write | bulk_create_events, 2,000 events |" in result.stdout
    assert "| write | request: what the same row by hand adds |" in result.stdout
    text = page.read_text()
    assert text.startswith("# Hand-written\n\n") and text.endswith("\n\nMore prose.\n")
    assert "old" not in text
    assert "PostgreSQL" in text and "bulk_create_events" in text
