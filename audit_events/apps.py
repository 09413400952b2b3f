"""Django app configuration: wires up system checks, nothing else."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditEventsConfig(AppConfig):
    name = "audit_events"
    verbose_name = _("Audit events")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from audit_events import checks  # noqa: F401  (registers the system checks)
