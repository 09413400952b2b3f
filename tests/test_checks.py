"""System checks: each id fails when it should and passes on a correct setup."""

from __future__ import annotations

import datetime
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext, override_settings
from psycopg import sql

from audit_events.checks import (
    check_database,
    check_middleware,
    check_models,
    check_settings,
    column_mismatch_errors,
    days_ahead,
    engine_errors,
    partitions_ahead_warnings,
)
from audit_events.models import ArchivedAuditEvent, AuditEvent
from audit_events.partitions import list_partitions, utc_today
from tests.testapp.models import Article

AUTH = "django.contrib.auth.middleware.AuthenticationMiddleware"
SESSION = "django.contrib.sessions.middleware.SessionMiddleware"
AUDIT = "audit_events.middleware.AuditEventsMiddleware"


def ids(messages) -> list[str]:
    return [m.id for m in messages]


@pytest.mark.django_db
def test_check_command_passes_with_database_checks():
    out = StringIO()
    call_command("check", databases=["default"], stdout=out)
    assert "no issues" in out.getvalue()


@pytest.mark.django_db
def test_database_checks_send_no_query_without_databases():
    with CaptureQueriesContext(connection) as ctx:
        assert check_database(databases=None) == []
    assert ctx.captured_queries == []


def test_e001_database_is_not_postgresql():
    [error] = engine_errors("other", "mysql", None)
    assert error.id == "audit_events.E001"
    assert "'other' is mysql" in error.msg


@pytest.mark.django_db
def test_e001_e002_pass_on_this_server():
    assert connection.pg_version >= 140000
    assert engine_errors("default", connection.vendor, connection.pg_version) == []
    assert check_database(databases=["default"]) == []


def test_e002_postgresql_older_than_14():
    [error] = engine_errors("default", "postgresql", 130011)
    assert error.id == "audit_events.E002"
    assert "PostgreSQL 13" in error.msg
    assert engine_errors("default", "postgresql", 140000) == []


def test_middleware_in_the_right_place_passes():
    assert check_middleware() == []


@override_settings(MIDDLEWARE=[SESSION, AUDIT, AUTH])
def test_e003_middleware_before_authentication():
    assert ids(check_middleware()) == ["audit_events.E003"]


@override_settings(MIDDLEWARE=[SESSION, AUDIT])
def test_e003_middleware_without_authentication():
    assert ids(check_middleware()) == ["audit_events.E003"]


@override_settings(MIDDLEWARE=[SESSION, AUTH])
def test_w001_middleware_missing():
    [warning] = check_middleware()
    assert warning.id == "audit_events.W001"
    assert AUDIT in warning.msg


def test_valid_settings_pass():
    assert check_settings() == []


@override_settings(AUDIT_INCLUDE_POST_DATA="yes", AUDIT_PARTITION_PREMAKE_DAYS=-1)
def test_e004_invalid_settings_are_reported_by_name():
    errors = check_settings()
    assert ids(errors) == ["audit_events.E004", "audit_events.E004"]
    assert [e.obj for e in errors] == [
        "settings.AUDIT_INCLUDE_POST_DATA",
        "settings.AUDIT_PARTITION_PREMAKE_DAYS",
    ]
    assert "'yes'" in errors[0].msg


def test_installed_models_with_matching_columns_pass():
    assert check_models() == []


@override_settings(AUDIT_EVENT_MODEL="nowhere.Missing")
def test_e005_event_model_not_installed():
    [error] = check_models()
    assert error.id == "audit_events.E005"
    assert "nowhere.Missing" in error.msg


@override_settings(AUDIT_EVENT_ARCHIVE_MODEL="not-a-label")
def test_e006_archive_model_malformed():
    [error] = check_models()
    assert error.id == "audit_events.E006"
    assert "AUDIT_EVENT_ARCHIVE_MODEL" in error.msg


def test_e007_live_and_archive_columns_differ():
    [error] = column_mismatch_errors(AuditEvent, Article)
    assert error.id == "audit_events.E007"
    assert "title" in error.msg
    assert "content_type_id" in error.msg
    assert column_mismatch_errors(AuditEvent, ArchivedAuditEvent) == []


@pytest.mark.django_db
def test_w002_passes_with_the_migrations_premade_days():
    assert partitions_ahead_warnings("default", AuditEvent) == []


@pytest.mark.django_db
def test_w002_fewer_than_three_days_ahead():
    today = utc_today()
    with connection.cursor() as cursor:
        for partition in list_partitions(AuditEvent):
            if partition.day > today + datetime.timedelta(days=1):
                cursor.execute(
                    sql.SQL("DROP TABLE {}")
                    .format(sql.Identifier(partition.name))
                    .as_string(cursor.connection)
                )
    [warning] = check_database(databases=["default"])
    assert warning.id == "audit_events.W002"
    assert "1 day(s) after today" in warning.msg
    with override_settings(AUDIT_PARTITION_PREMAKE_DAYS=1):
        assert check_database(databases=["default"]) == []


@pytest.mark.django_db
def test_w002_no_partition_for_today():
    later = utc_today() + datetime.timedelta(days=30)
    [warning] = partitions_ahead_warnings("default", AuditEvent, today=later)
    assert "not even today" in warning.msg


def test_days_ahead_counts_consecutive_days_only():
    today = datetime.date(2024, 5, 1)
    days = {today + datetime.timedelta(days=n) for n in (0, 1, 2, 4)}
    assert days_ahead(days, today) == 2
    assert days_ahead(set(), today) == -1
