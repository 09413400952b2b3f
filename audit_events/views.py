"""Alias of ``audit_events.rest.views`` under django-audit-events' module path ``views``.

Needs Django REST framework (``pip install "audit-events[drf]"``); the viewset is
ours, with our permissions, filters and pagination (see docs/migrating.md).
"""

from __future__ import annotations

from audit_events.rest.views import ArchivedAuditEventViewSet, AuditEventViewSet

__all__ = ["ArchivedAuditEventViewSet", "AuditEventViewSet"]
