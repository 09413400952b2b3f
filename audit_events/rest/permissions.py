"""Who may read events through the API (``AUDIT_REST_PERMISSION_CLASSES``)."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission

from audit_events.conf import settings

__all__ = ["get_permissions"]


def get_permissions() -> list[BasePermission]:
    """Instances of the permission classes named by ``AUDIT_REST_PERMISSION_CLASSES``.

    Read on every request, so ``override_settings`` works. The default,
    ``IsAdminUser``, lets staff users in and nobody else.

    Raises:
        ImportError: a dotted path names nothing importable.
    """
    classes: list[Any] = [import_string(path) for path in settings.AUDIT_REST_PERMISSION_CLASSES]
    return [permission() for permission in classes]
