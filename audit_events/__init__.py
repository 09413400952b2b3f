"""audit_events: explicit audit events for Django, in day-partitioned PostgreSQL tables.

The public API is importable from here. Names that need Django's app registry
(models) are imported lazily, so importing this package in settings is safe.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

__version__ = "0.1.0.dev0"

_LAZY = {
    "AbstractArchivedAuditEvent": "audit_events.models",
    "AbstractAuditEvent": "audit_events.models",
    "AppendOnly": "audit_events.guard",
    "AppendOnlyError": "audit_events.exceptions",
    "ArchivedAuditEvent": "audit_events.models",
    "AuditContext": "audit_events.context",
    "AuditContextMixin": "audit_events.mixins",
    "AuditEvent": "audit_events.models",
    "DistributeByColumn": "audit_events.operations",
    "PartitionByDay": "audit_events.operations",
    "PartitioningError": "audit_events.exceptions",
    "RotationInProgress": "audit_events.exceptions",
    "archive_older_than": "audit_events.lifecycle",
    "bulk_create_events": "audit_events.bulk",
    "create_day_partitions": "audit_events.partitions",
    "get_audit_event_archive_model": "audit_events.models",
    "get_audit_event_model": "audit_events.models",
    "rotate": "audit_events.lifecycle",
    "timeline": "audit_events.history",
    "uuid7_for": "audit_events.ids",
}

__all__ = sorted([*_LAZY, "__version__"])


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'audit_events' has no attribute {name!r}")
    return getattr(import_module(module), name)


def __dir__() -> list[str]:
    return __all__
