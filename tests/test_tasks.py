"""The Celery tasks, and importing them without Celery installed."""

from __future__ import annotations

import importlib.util
import sys

import pytest

from audit_events.models import AuditEvent
from audit_events.partitions import create_day_partitions, utc_today
from tests.fixtures_lifecycle import DAY, fresh_layout, states  # noqa: F401 - fixture


@pytest.fixture
def tasks_without_celery(monkeypatch):
    """A separate copy of audit_events.tasks, executed while "import celery" fails."""
    monkeypatch.setitem(sys.modules, "celery", None)
    spec = importlib.util.find_spec("audit_events.tasks")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_tasks_are_registered_under_the_original_names():
    from audit_events import tasks

    assert tasks.archive_old_audit_events.name == "audit_events.tasks.archive_old_audit_events"
    assert tasks.rotate_audit_partitions.name == "audit_events.tasks.rotate_audit_partitions"


def test_tasks_are_plain_functions_without_celery(tasks_without_celery):
    assert not hasattr(tasks_without_celery.archive_old_audit_events, "delay")
    assert callable(tasks_without_celery.rotate_audit_partitions)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layout")
def test_archive_task_keeps_the_original_signature_and_archives():
    from audit_events.tasks import archive_old_audit_events

    day = utc_today() - 91 * DAY
    (name,) = create_day_partitions(AuditEvent, day, day)
    result = archive_old_audit_events.apply(kwargs={"older_than": 90}).get()
    assert result[0].startswith("archive")
    assert states()[name] == ("archived", day)


@pytest.mark.django_db(transaction=True)
@pytest.mark.usefixtures("fresh_layout")
def test_rotate_task_runs_a_rotation():
    from django.test import override_settings

    from audit_events.tasks import rotate_audit_partitions

    with override_settings(AUDIT_PARTITION_PREMAKE_DAYS=15):
        result = rotate_audit_partitions.apply().get()
    assert [line.split()[0] for line in result] == ["create", "seal", "analyze"]
