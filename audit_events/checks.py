"""System checks of audit_events (ids ``audit_events.E001``..., documented in docs/checks.md).

Checks that need the database (engine, server version, partitions made ahead)
are registered with ``Tags.database``: like Django's own database checks they
run only when ``check --database <alias>`` or ``migrate`` asks for them, never
on every ``runserver`` start.
"""

from __future__ import annotations

import datetime
from collections.abc import Iterable, Sequence
from typing import Any

from django.apps import AppConfig
from django.conf import settings as django_settings
from django.core.checks import CheckMessage, Error, Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections, models, router
from django.utils.module_loading import import_string

from audit_events.conf import DEFAULTS, validate

__all__ = [
    "MIN_DAYS_AHEAD",
    "MIN_POSTGRESQL_VERSION",
    "check_database",
    "check_middleware",
    "check_models",
    "check_rest_framework",
    "check_settings",
]

#: Oldest supported PostgreSQL (``DETACH ... CONCURRENTLY``), as ``server_version_num``.
MIN_POSTGRESQL_VERSION = 140000
#: Fewer future days with a partition than this is a warning (W002).
MIN_DAYS_AHEAD = 3

_MIDDLEWARE = "audit_events.middleware.AuditEventsMiddleware"
_AUTH_MIDDLEWARE = "django.contrib.auth.middleware.AuthenticationMiddleware"
_MODEL_SETTINGS = {
    "AUDIT_EVENT_MODEL": "audit_events.E005",
    "AUDIT_EVENT_ARCHIVE_MODEL": "audit_events.E006",
}


# --- Settings ------------------------------------------------------------------


@register()
def check_settings(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E004: every ``AUDIT_*`` setting that is set has a valid value."""
    errors: list[CheckMessage] = []
    for name in sorted(DEFAULTS):
        if not hasattr(django_settings, name):
            continue
        try:
            validate(name, getattr(django_settings, name))
        except ImproperlyConfigured as exc:
            errors.append(
                Error(
                    str(exc),
                    hint=f"Fix settings.{name} (see docs/configuration.md).",
                    obj=f"settings.{name}",
                    id="audit_events.E004",
                )
            )
    return errors


# --- Middleware ----------------------------------------------------------------


@register()
def check_middleware(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """W001: the middleware is missing; E003: it runs before AuthenticationMiddleware."""
    middleware = list(django_settings.MIDDLEWARE)
    audit = _position(middleware, import_string(_MIDDLEWARE))
    if audit is None:
        return [
            Warning(
                f"{_MIDDLEWARE} is not in settings.MIDDLEWARE: requests have no audit_context.",
                hint=f"Add {_MIDDLEWARE!r} to MIDDLEWARE after AuthenticationMiddleware, or "
                "silence this warning if events are only created outside requests.",
                id="audit_events.W001",
            )
        ]
    auth = _position(middleware, import_string(_AUTH_MIDDLEWARE))
    if auth is None or auth > audit:
        return [
            Error(
                f"{_MIDDLEWARE} must come after {_AUTH_MIDDLEWARE} in settings.MIDDLEWARE: "
                "before it, request.user is not set and events record no user.",
                hint=f"Move {_MIDDLEWARE!r} below {_AUTH_MIDDLEWARE!r}.",
                id="audit_events.E003",
            )
        ]
    return []


def _position(middleware: Sequence[str], cls: type) -> int | None:
    """Index of the first entry that is ``cls`` or a subclass of it."""
    for index, path in enumerate(middleware):
        try:
            entry = import_string(path)
        except ImportError:
            continue  # Django's own checks and startup report it.
        if isinstance(entry, type) and issubclass(entry, cls):
            return index
    return None


# --- Models --------------------------------------------------------------------


# --- Read API ------------------------------------------------------------------


@register(Tags.urls)
def check_rest_framework(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E010: the read API's URLs are used but ``rest_framework`` is not installed.

    Without the app, DRF's browsable API has no templates: a browser (``Accept:
    text/html``) asking any endpoint, even anonymously, gets a server error.
    """
    if "rest_framework" in django_settings.INSTALLED_APPS or not _rest_urls_used():
        return []
    return [
        Error(
            "The audit_events read API is in the URLconf but 'rest_framework' is not in "
            "settings.INSTALLED_APPS: its pages fail for browsers.",
            hint="Add 'rest_framework' to INSTALLED_APPS (see docs/api-rest.md).",
            obj="settings.INSTALLED_APPS",
            id="audit_events.E010",
        )
    ]


def _rest_urls_used() -> bool:
    from django.urls import get_resolver

    try:
        patterns = get_resolver().url_patterns
    except Exception:  # Django's own URL checks report a broken URLconf.
        return False
    return _uses_rest(patterns)


def _uses_rest(patterns: Iterable[Any]) -> bool:
    for pattern in patterns:
        module = getattr(pattern, "urlconf_name", None)
        if getattr(module, "__name__", module) == "audit_events.rest.urls":
            return True
        view_class = getattr(getattr(pattern, "callback", None), "cls", None)
        if isinstance(view_class, type) and any(
            base.__module__.startswith("audit_events.rest.") for base in view_class.__mro__
        ):
            return True
        if hasattr(pattern, "url_patterns") and _uses_rest(pattern.url_patterns):
            return True
    return False


@register(Tags.models)
def check_models(
    app_configs: Sequence[AppConfig] | None = None, **kwargs: Any
) -> list[CheckMessage]:
    """E005/E006: the event models are installed; E007: live and archive columns match."""
    resolved, errors = _event_models()
    if errors:
        return errors
    live, archive = resolved
    return column_mismatch_errors(live, archive)


def _event_models() -> tuple[list[type[models.Model]], list[CheckMessage]]:
    from audit_events.models import get_audit_event_archive_model, get_audit_event_model

    getters = {
        "AUDIT_EVENT_MODEL": get_audit_event_model,
        "AUDIT_EVENT_ARCHIVE_MODEL": get_audit_event_archive_model,
    }
    resolved: list[type[models.Model]] = []
    errors: list[CheckMessage] = []
    for name, check_id in _MODEL_SETTINGS.items():
        try:
            resolved.append(getters[name]())
        except ImproperlyConfigured as exc:
            errors.append(
                Error(
                    str(exc),
                    obj=f"settings.{name}",
                    id=check_id,
                    hint="Point it at an installed, concrete event model.",
                )
            )
    return resolved, errors


def column_mismatch_errors(
    live: type[models.Model], archive: type[models.Model]
) -> list[CheckMessage]:
    """E007 when the two models' columns differ in name, type or nullability.

    A day moves between the tables by ``DETACH`` and ``ATTACH PARTITION``, which
    PostgreSQL refuses unless the partition has exactly the parent's columns.
    """
    live_columns, archive_columns = _columns(live), _columns(archive)
    if live_columns == archive_columns:
        return []
    differing = sorted(set(live_columns.items()) ^ set(archive_columns.items()))
    names = ", ".join(dict.fromkeys(column for column, _ in differing))
    return [
        Error(
            f"{live._meta.label} and {archive._meta.label} have different columns ({names}): "
            "days cannot be moved between them by detaching and attaching partitions.",
            hint="Give the archive model exactly the live model's fields (subclass the same "
            "abstract model), then make and run the migration.",
            obj=archive,
            id="audit_events.E007",
        )
    ]


def _columns(model: type[models.Model]) -> dict[str, tuple[str | None, bool]]:
    # db_type() needs a connection object but sends no query.
    connection = connections[DEFAULT_DB_ALIAS]
    return {
        str(field.column): (field.db_type(connection), field.null)
        for field in model._meta.concrete_fields
    }


# --- Database ------------------------------------------------------------------


@register(Tags.database)
def check_database(
    app_configs: Sequence[AppConfig] | None = None,
    databases: Iterable[str] | None = None,
    **kwargs: Any,
) -> list[CheckMessage]:
    """E001/E002: PostgreSQL >= 14; W002: days made ahead; W003: quarantine. Only ``databases``."""
    if not databases:
        return []
    resolved, errors = _event_models()
    if errors:
        return []  # check_models reports them.
    messages: list[CheckMessage] = []
    for alias in databases:
        if not router.allow_migrate_model(alias, resolved[0]):
            continue
        connection = connections[alias]
        version = getattr(connection, "pg_version", None)
        engine = engine_errors(alias, connection.vendor, version)
        messages += engine or [
            *partitions_ahead_warnings(alias, resolved[0]),
            *quarantine_warnings(alias, resolved[0]),
        ]
    return messages


def engine_errors(alias: str, vendor: str, version: int | None) -> list[CheckMessage]:
    """E001 when ``alias`` is not PostgreSQL, E002 when it is older than 14.

    Args:
        alias: the database alias.
        vendor: ``connection.vendor``.
        version: ``connection.pg_version`` (``server_version_num``), for PostgreSQL.
    """
    if vendor != "postgresql":
        return [
            Error(
                f"Database {alias!r} is {vendor}: audit_events needs PostgreSQL (day partitions).",
                hint="Use django.db.backends.postgresql for the database that holds the events.",
                obj=f"settings.DATABASES[{alias!r}]",
                id="audit_events.E001",
            )
        ]
    if version is not None and version < MIN_POSTGRESQL_VERSION:
        major = (
            str(version // 10000)
            if version >= 100000
            else f"{version // 10000}.{version // 100 % 100}"
        )
        return [
            Error(
                f"Database {alias!r} runs PostgreSQL {major}: audit_events needs 14 or newer "
                "(DETACH PARTITION ... CONCURRENTLY).",
                hint="Upgrade the server to PostgreSQL 14 or newer.",
                obj=f"settings.DATABASES[{alias!r}]",
                id="audit_events.E002",
            )
        ]
    return []


def partitions_ahead_warnings(
    alias: str, model: type[models.Model], today: datetime.date | None = None
) -> list[CheckMessage]:
    """W002 when fewer than ``MIN_DAYS_AHEAD`` days after today have a partition.

    Skipped while the table does not exist yet (before ``migrate``). The bar is
    lowered to ``AUDIT_PARTITION_PREMAKE_DAYS`` when that is set lower.
    """
    from audit_events.conf import settings
    from audit_events.partitions import list_partitions, utc_today

    table = model._meta.db_table
    with connections[alias].cursor() as cursor:
        if table not in connections[alias].introspection.table_names(cursor):
            return []
    problem = _storage_problem(alias, model)
    if problem is not None:
        return [problem]
    today = today or utc_today()
    days = {p.day for p in list_partitions(model, alias) if not p.detach_pending}
    ahead = days_ahead(days, today)
    wanted = min(MIN_DAYS_AHEAD, settings.AUDIT_PARTITION_PREMAKE_DAYS)
    if ahead >= wanted:
        return []
    made = f"{ahead} day(s) after today" if ahead >= 0 else "not even today"
    return [
        Warning(
            f"Table {table!r} on database {alias!r} has partitions for {made}; fewer than "
            f"{wanted} days are made ahead, so events will soon go to the spool table.",
            hint="Run rotation regularly (python manage.py rotate_audit_partitions, "
            "see docs/operations.md).",
            obj=model,
            id="audit_events.W002",
        )
    ]


def _storage_problem(alias: str, model: type[models.Model]) -> CheckMessage | None:
    """E008 when the table is not partitioned or the SQL functions are missing.

    Asked before any query that needs them, so the check reports instead of
    raising (e.g. on a database built with migrations disabled by hand).
    """
    from audit_events.syncdb import storage_problem

    try:
        problem = storage_problem(alias, model)
    except DatabaseError as exc:
        problem = f"the storage could not be inspected ({exc})"
    if problem is None:
        return None
    return Error(
        f"Database {alias!r}: {problem}, so audit events cannot be stored.",
        hint="Run python manage.py migrate audit_events (with migrations disabled, "
        "migrate --run-syncdb installs them too: see docs/migrating.md).",
        obj=model,
        id="audit_events.E008",
    )


def quarantine_warnings(alias: str, model: type[models.Model]) -> list[CheckMessage]:
    """W003 when spooled rows are held in quarantine (skipped before ``migrate``)."""
    from audit_events.models import QuarantinedEvent
    from audit_events.quarantine import quarantined_count

    with connections[alias].cursor() as cursor:
        tables = connections[alias].introspection.table_names(cursor)
    if QuarantinedEvent._meta.db_table not in tables:
        return []
    held = quarantined_count(alias)
    if not held:
        return []
    return [
        Warning(
            f"{held} spooled row(s) of {model._meta.db_table!r} on database {alias!r} are held "
            "in quarantine: rotation kept them out of history (invalid, a reused id, or a late "
            "event for a sealed or archived day).",
            hint="Run python manage.py verify_audit_events to see them; see docs/reliability.md.",
            obj=model,
            id="audit_events.W003",
        )
    ]


def days_ahead(days: set[datetime.date], today: datetime.date) -> int:
    """How many consecutive days after ``today`` have a partition (-1: not even today)."""
    if today not in days:
        return -1
    ahead = 0
    while today + datetime.timedelta(days=ahead + 1) in days:
        ahead += 1
    return ahead
