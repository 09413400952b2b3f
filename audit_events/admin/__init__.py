"""Django admin for audit events: read-only, and fast on day-partitioned tables.

Registers the active event and archive models (``AUDIT_EVENT_MODEL``,
``AUDIT_EVENT_ARCHIVE_MODEL``) and ``ArchivedDay`` on the default admin site.
``AuditEventsLinkMixin`` adds links from any ModelAdmin to its objects' events.
See docs/admin.md.
"""

from __future__ import annotations

import logging
from typing import Any

from django.contrib import admin
from django.core.exceptions import ImproperlyConfigured
from django.db.models import Model

from audit_events.admin.options import (
    ArchivedAuditEventAdmin,
    ArchivedDayAdmin,
    AuditEventAdmin,
    AuditEventsLinkMixin,
    audit_events_url,
)
from audit_events.admin.paginator import EstimatedCountPaginator

__all__ = [
    "ArchivedAuditEventAdmin",
    "ArchivedDayAdmin",
    "AuditEventAdmin",
    "AuditEventsLinkMixin",
    "EstimatedCountPaginator",
    "audit_events_url",
]

logger = logging.getLogger("audit_events")


def _register() -> None:
    from audit_events.models import (
        ArchivedDay,
        get_audit_event_archive_model,
        get_audit_event_model,
    )

    registrations: list[tuple[type[Model], type[admin.ModelAdmin[Any]]]]
    try:
        registrations = [
            (get_audit_event_model(), AuditEventAdmin),
            (get_audit_event_archive_model(), ArchivedAuditEventAdmin),
            (ArchivedDay, ArchivedDayAdmin),
        ]
    except ImproperlyConfigured as exc:
        # Reported by the system checks (audit_events.E005/E006); crashing here,
        # during admin autodiscovery, would hide that report.
        logger.warning("audit_events: admin not registered: %s", exc)
        return
    for model, model_admin in registrations:
        if not admin.site.is_registered(model):
            admin.site.register(model, model_admin)


_register()
