"""Alias of ``audit_events.mixins`` under django-audit-events' module path ``mixin``.

``from audit_events.mixin import AuditContextMixin`` gives the same class as
``audit_events.mixins`` (see docs/migrating.md).
"""

from __future__ import annotations

from audit_events.mixins import AuditContextMixin

__all__ = ["AuditContextMixin"]
