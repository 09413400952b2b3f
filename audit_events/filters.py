"""Alias of ``audit_events.rest.filters`` under django-audit-events' module path ``filters``.

The original's ``AuditEventFilterSet`` (a django-filter ``FilterSet``) has no
counterpart: the viewset filters by itself with ``filter_events``, whose
parameters map onto indexes (see docs/migrating.md).
"""

from __future__ import annotations

from audit_events.rest.filters import FILTER_PARAMETERS, filter_events

__all__ = ["FILTER_PARAMETERS", "filter_events"]
