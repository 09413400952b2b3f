"""Read-only viewsets of live and archived events."""

from __future__ import annotations

from typing import Any

from django.db.models import Model, QuerySet
from rest_framework import viewsets
from rest_framework.permissions import BasePermission

from audit_events.ids import timestamp_of
from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.readers import events_for_reading
from audit_events.rest.filters import filter_events
from audit_events.rest.pagination import EventCursorPagination
from audit_events.rest.permissions import get_permissions
from audit_events.rest.serializers import ArchivedAuditEventSerializer, AuditEventSerializer

__all__ = ["ArchivedAuditEventViewSet", "AuditEventViewSet"]

_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class _EventViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = EventCursorPagination
    lookup_value_regex = _UUID

    def get_model(self) -> type[Model]:
        raise NotImplementedError

    def get_permissions(self) -> list[BasePermission]:
        return get_permissions()

    def get_queryset(self) -> QuerySet[Any]:
        return events_for_reading(self.get_model())

    def filter_queryset(self, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.action == "retrieve":
            # An id holds its event's timestamp: read the one day table it falls in.
            when = timestamp_of(self.kwargs.get(self.lookup_url_kwarg or self.lookup_field, ""))
            return queryset.none() if when is None else queryset.filter(timestamp=when)
        if self.action != "list":
            return queryset
        return filter_events(queryset, self.request.query_params)


class AuditEventViewSet(_EventViewSet):
    """``GET events/`` (filtered, cursor-paginated list) and ``GET events/<id>/``."""

    serializer_class = AuditEventSerializer

    def get_model(self) -> type[Model]:
        return get_audit_event_model()


class ArchivedAuditEventViewSet(_EventViewSet):
    """``GET archived-events/`` and ``GET archived-events/<id>/``."""

    serializer_class = ArchivedAuditEventSerializer

    def get_model(self) -> type[Model]:
        return get_audit_event_archive_model()
