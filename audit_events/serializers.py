"""Alias of ``audit_events.rest.serializers`` under django-audit-events' path ``serializers``.

``EventSerializer`` is the original's name for ``AuditEventSerializer``.
"""

from __future__ import annotations

from audit_events.rest.serializers import ArchivedAuditEventSerializer, AuditEventSerializer

__all__ = ["ArchivedAuditEventSerializer", "AuditEventSerializer", "EventSerializer"]

EventSerializer = AuditEventSerializer
