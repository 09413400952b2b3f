"""Who may read events through the API (``AUDIT_REST_PERMISSION_CLASSES``)."""

from __future__ import annotations

from typing import Any

from django.utils.module_loading import import_string
from rest_framework.permissions import BasePermission

from audit_events.conf import settings

__all__ = ["CanViewEvents", "get_permissions"]


class CanViewEvents(BasePermission):
    """The user has the model's ``view`` permission, as the admin requires.

    ``IsAdminUser`` alone would let every staff user read every event (URLs,
    addresses, headers, bodies), even one the admin refuses.
    """

    def has_permission(self, request: Any, view: Any) -> bool:
        opts = view.get_model()._meta
        return bool(request.user.has_perm(f"{opts.app_label}.view_{opts.model_name}"))


def get_permissions() -> list[BasePermission]:
    """Instances of the permission classes named by ``AUDIT_REST_PERMISSION_CLASSES``.

    Read on every request, so ``override_settings`` works. The default,
    ``IsAdminUser`` and ``CanViewEvents``, lets in staff users who may view the
    events in the admin, and nobody else.

    Raises:
        ImportError: a dotted path names nothing importable.
    """
    classes: list[Any] = [import_string(path) for path in settings.AUDIT_REST_PERMISSION_CLASSES]
    return [permission() for permission in classes]
