"""Querysets that the read-only views (admin, REST API) show events from.

Each row's content type is joined (no query per row), and archived events carry
``archive_timestamp``, the time their day was archived (one ``ArchivedDay`` row
per day, looked up by a correlated subquery on the archive day's primary key).
"""

from __future__ import annotations

from typing import Any

from django.db import models

from audit_events.models import AbstractArchivedAuditEvent, archive_timestamp_of_day

__all__ = ["events_for_reading"]


def events_for_reading(model: type[models.Model]) -> models.QuerySet[Any]:
    """All events of ``model`` (live or archive), ready to be listed.

    Args:
        model: the live or the archive event model.

    Returns:
        A queryset with ``content_type`` joined; for an archive model, each
        event is annotated with ``archive_timestamp``.
    """
    queryset = model._base_manager.select_related("content_type")
    if issubclass(model, AbstractArchivedAuditEvent):
        queryset = queryset.annotate(archive_timestamp=archive_timestamp_of_day(model))
    return queryset
