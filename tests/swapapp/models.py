"""A project's own event models, swapped in with AUDIT_EVENT_MODEL (see tests/swapped/)."""

from django.db import models

from audit_events.models import AbstractArchivedAuditEvent, AbstractAuditEvent


class TenantEvent(AbstractAuditEvent):
    tenant = models.CharField(max_length=50, blank=True, default="")

    class Meta(AbstractAuditEvent.Meta):
        swappable = "AUDIT_EVENT_MODEL"


class ArchivedTenantEvent(AbstractArchivedAuditEvent):
    # The archive model must have exactly the live model's columns, so that a
    # day's partition can move between the two tables.
    tenant = models.CharField(max_length=50, blank=True, default="")

    class Meta(AbstractArchivedAuditEvent.Meta):
        swappable = "AUDIT_EVENT_ARCHIVE_MODEL"
