"""Settings of audit_events, read lazily from ``django.conf.settings``.

Every setting has a documented default here (docs/configuration.md lists them
with examples). A value is read and validated on first use and kept until
Django's ``setting_changed`` signal says it changed (``override_settings`` and
pytest-django's ``settings`` fixture send it), so tests can change settings;
a wrong type raises ``ImproperlyConfigured`` naming the setting.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable, Iterable
from typing import Any

from django.conf import settings as django_settings
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed

__all__ = ["DEFAULTS", "DEFAULT_SETTINGS", "settings"]

#: Header names (``request.META`` keys) that carry credentials. They are masked
#: even when listed in ``AUDIT_INCLUDE_HEADERS``, unless also listed in
#: ``AUDIT_ALLOW_SENSITIVE_HEADERS``.
SENSITIVE_HEADERS = (
    "HTTP_AUTHORIZATION",
    "HTTP_PROXY_AUTHORIZATION",
    "HTTP_COOKIE",
    "HTTP_SET_COOKIE",
    "HTTP_X_API_KEY",
    "HTTP_X_AUTH_TOKEN",
    "HTTP_X_CSRFTOKEN",
    "HTTP_X_AMZ_SECURITY_TOKEN",
)

DEFAULTS: dict[str, Any] = {
    # The contract of django-audit-events (names and defaults unchanged).
    "AUDIT_EVENT_MODEL": "audit_events.AuditEvent",
    "AUDIT_EVENT_ARCHIVE_MODEL": "audit_events.ArchivedAuditEvent",
    "AUDIT_INCLUDE_QUERY_PARAMS": False,
    "AUDIT_INCLUDE_POST_DATA": False,
    "AUDIT_MASK_POST_FIELDS": ("password",),
    "AUDIT_INCLUDE_HEADERS": False,
    "AUDIT_CLIENT_IP_RESOLVER_FUNCTION": "audit_events.utils.get_client_ip",
    # Request capture and secrets (new in audit_events).
    "AUDIT_TRUSTED_PROXIES": (),
    # Matched case-insensitively as substrings of names: "token" masks "access_token".
    "AUDIT_MASK_QUERY_PARAMS": (
        "password",
        "passwd",
        "secret",
        "token",
        "api_key",
        "apikey",
        "signature",
        "credential",
        "authorization",
        "sessionid",
        # Four letters or fewer match a whole name only (see capture.is_sensitive).
        "auth",
        "code",
        "key",
        "sig",
        "jwt",
        "otp",
        "pin",
        "pwd",
        "cvv",
        "cvc",
        "ssn",
        "cardnumber",
        "privatekey",
    ),
    "AUDIT_SENSITIVE_HEADERS": SENSITIVE_HEADERS,
    "AUDIT_ALLOW_SENSITIVE_HEADERS": (),
    "AUDIT_MASK_VALUE": "********",
    "AUDIT_MAX_BODY_SIZE": 64 * 1024,
    # Partitioned storage and its lifecycle (new in audit_events).
    "AUDIT_PARTITION_PREMAKE_DAYS": 14,
    "AUDIT_ARCHIVE_AFTER_DAYS": 90,
    "AUDIT_ARCHIVE_RETENTION_DAYS": None,
    "AUDIT_LOCK_TIMEOUT_MS": 2000,
    "AUDIT_DDL_RETRIES": 5,
    "AUDIT_CREATE_DAYS_ON_WRITE": True,
    # Hours after a UTC day ends before rotation seals it (late events).
    "AUDIT_SEAL_GRACE_HOURS": 1,
    # Read API (audit_events.rest, optional extra "drf").
    "AUDIT_REST_PERMISSION_CLASSES": (
        "rest_framework.permissions.IsAdminUser",
        "audit_events.rest.permissions.CanViewEvents",
    ),
}

#: django-audit-events' name of ``DEFAULTS`` (``audit_events.conf.DEFAULT_SETTINGS``).
DEFAULT_SETTINGS = DEFAULTS


def _is_bool(value: Any) -> bool:
    return isinstance(value, bool)


def _is_str(value: Any) -> bool:
    return isinstance(value, str) and bool(value)


def _is_str_sequence(value: Any) -> bool:
    return isinstance(value, (list, tuple, set, frozenset)) and all(
        isinstance(item, str) for item in value
    )


def _is_headers(value: Any) -> bool:
    return value is False or value is None or _is_str_sequence(value)


def _is_networks(value: Any) -> bool:
    if not _is_str_sequence(value):
        return False
    try:
        for item in value:
            ipaddress.ip_network(item.strip(), strict=False)
    except ValueError:
        return False
    return True


def _is_resolver(value: Any) -> bool:
    return callable(value) or _is_str(value)


def _is_non_negative_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _is_positive_int(value: Any) -> bool:
    return _is_non_negative_int(value) and value > 0


def _is_optional_positive_int(value: Any) -> bool:
    return value is None or _is_positive_int(value)


def _is_grace(value: Any) -> bool:
    return _is_non_negative_int(value) and value <= 720


_VALIDATORS: dict[str, tuple[Callable[[Any], bool], str]] = {
    "AUDIT_EVENT_MODEL": (_is_str, 'a string "app_label.ModelName"'),
    "AUDIT_EVENT_ARCHIVE_MODEL": (_is_str, 'a string "app_label.ModelName"'),
    "AUDIT_INCLUDE_QUERY_PARAMS": (_is_bool, "True or False"),
    "AUDIT_INCLUDE_POST_DATA": (_is_bool, "True or False"),
    "AUDIT_MASK_POST_FIELDS": (_is_str_sequence, 'a list of field names, e.g. ("password",)'),
    "AUDIT_INCLUDE_HEADERS": (_is_headers, 'False or a list of META names, e.g. ["HTTP_X_FOO"]'),
    "AUDIT_CLIENT_IP_RESOLVER_FUNCTION": (_is_resolver, "a dotted path or a callable"),
    "AUDIT_TRUSTED_PROXIES": (_is_networks, 'a list of IPs or networks, e.g. ["10.0.0.0/8"]'),
    "AUDIT_MASK_QUERY_PARAMS": (_is_str_sequence, "a list of parameter names"),
    "AUDIT_SENSITIVE_HEADERS": (_is_str_sequence, "a list of META names"),
    "AUDIT_ALLOW_SENSITIVE_HEADERS": (_is_str_sequence, "a list of META names"),
    "AUDIT_MASK_VALUE": (lambda v: isinstance(v, str), "a string"),
    "AUDIT_MAX_BODY_SIZE": (_is_non_negative_int, "a number of bytes (int >= 0)"),
    "AUDIT_PARTITION_PREMAKE_DAYS": (_is_non_negative_int, "a number of days (int >= 0)"),
    "AUDIT_ARCHIVE_AFTER_DAYS": (_is_positive_int, "a number of days (int >= 1)"),
    "AUDIT_ARCHIVE_RETENTION_DAYS": (_is_optional_positive_int, "None or a number of days"),
    "AUDIT_LOCK_TIMEOUT_MS": (_is_positive_int, "milliseconds (int >= 1)"),
    "AUDIT_DDL_RETRIES": (_is_non_negative_int, "a number of retries (int >= 0)"),
    "AUDIT_CREATE_DAYS_ON_WRITE": (_is_bool, "True or False"),
    "AUDIT_SEAL_GRACE_HOURS": (_is_grace, "a number of hours (int, 0 to 720)"),
    "AUDIT_REST_PERMISSION_CLASSES": (
        _is_str_sequence,
        'a list of dotted paths, e.g. ["rest_framework.permissions.IsAdminUser"]',
    ),
}


#: Values read and validated, by setting name (see ``_forget_changed``).
_values: dict[str, Any] = {}


class AuditSettings:
    """Attribute access to the ``AUDIT_*`` settings with defaults and validation."""

    def __getattr__(self, name: str) -> Any:
        try:
            return _values[name]
        except KeyError:
            pass
        if name not in DEFAULTS:
            raise AttributeError(f"{name!r} is not an audit_events setting")
        # Kept once valid: settings are read several times per event, and reading
        # one the project does not set costs Django an AttributeError each time.
        value = getattr(django_settings, name, DEFAULTS[name])
        validate(name, value)
        _values[name] = value
        return value

    def __dir__(self) -> Iterable[str]:
        return sorted(DEFAULTS)


def validate(name: str, value: Any) -> None:
    """Raise ``ImproperlyConfigured`` when ``value`` is not valid for setting ``name``."""
    check, expected = _VALIDATORS[name]
    if not check(value):
        raise ImproperlyConfigured(f"settings.{name} must be {expected}; got {value!r}.")


settings = AuditSettings()


def _forget_changed(*, setting: str, **kwargs: Any) -> None:
    """Read ``setting`` again on next use: ``override_settings`` changed it."""
    _values.pop(setting, None)


setting_changed.connect(_forget_changed, dispatch_uid="audit_events.conf")
