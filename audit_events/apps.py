"""Django app configuration: wires up system checks and one signal, nothing else."""

from __future__ import annotations

from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class AuditEventsConfig(AppConfig):
    name = "audit_events"
    verbose_name = _("Audit events")
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from audit_events import checks  # noqa: F401  (registers the system checks)
        from audit_events.syncdb import install_storage

        # Migrations disabled (tests): partition the tables syncdb made (audit_events.syncdb).
        post_migrate.connect(install_storage, sender=self, dispatch_uid="audit_events_storage")
