"""The benchmark runs end to end (numbers are not checked: speed is shown by bench/, not tests)."""

import os
import subprocess
import sys
from pathlib import Path

import pytest
from django.test import override_settings

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
    assert "with the request's values ready-made" in result.stdout
    text = page.read_text()
    assert text.startswith("# Hand-written\n\n") and text.endswith("\n\nMore prose.\n")
    assert "old" not in text
    assert "PostgreSQL" in text and "bulk_create_events" in text


@pytest.mark.django_db
@override_settings(ROOT_URLCONF="bench.urls")
def test_the_floor_view_writes_the_row_the_audited_view_records(client, django_user_model):
    # The floor is only a floor if it stores what the event stores: same URL,
    # client IP, user, object and content, read from its own request.
    from audit_events.models import AuditEvent
    from bench import write

    write._BY_HAND.clear()
    django_user_model.objects.create(username=write.TARGET_USERNAME)
    viewer = django_user_model.objects.create(username="viewer")
    client.force_login(viewer)
    for path in ("/audited/", "/by-hand/", "/ready-made/"):
        assert client.get(path, REMOTE_ADDR="192.0.2.7").status_code == 200

    fields = [f.attname for f in AuditEvent._meta.concrete_fields if f.attname != "id"]
    fields.remove("timestamp")
    audited, by_hand, ready_made = (
        dict(zip(fields, row, strict=True))
        for row in AuditEvent.objects.order_by("timestamp").values_list(*fields)
    )
    assert audited["url"] == "http://testserver/audited/"
    assert by_hand["url"] == "http://testserver/by-hand/"
    assert {**by_hand, "url": audited["url"]} == audited
    assert audited["user_id"] == viewer.pk and audited["remote_addr"] == "192.0.2.7"
    # The ready-made row keeps the first request's values (that is what it is for).
    assert ready_made["url"] == "http://testserver/by-hand/"
