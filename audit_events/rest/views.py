"""Read-only viewsets of live and archived events."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.db import DataError, OperationalError, router, transaction
from django.db.models import Model, QuerySet
from rest_framework import viewsets
from rest_framework.exceptions import APIException, AuthenticationFailed
from rest_framework.permissions import BasePermission

from audit_events.ids import timestamp_of
from audit_events.limits import is_query_canceled, statement_timeout
from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.readers import events_for_reading
from audit_events.rest.filters import filter_events
from audit_events.rest.pagination import EventCursorPagination
from audit_events.rest.permissions import get_permissions
from audit_events.rest.schema import EventSchema
from audit_events.rest.serializers import ArchivedAuditEventSerializer, AuditEventSerializer

__all__ = ["ArchivedAuditEventViewSet", "AuditEventViewSet"]

_UUID = r"[0-9a-fA-F]{8}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{4}-?[0-9a-fA-F]{12}"


class QueryTimedOut(APIException):
    """A read stopped by ``statement_timeout_ms`` (HTTP 503)."""

    status_code = 503
    default_detail = "Reading the events took too long: narrow the request with since/until."
    default_code = "query_timed_out"


class _EventViewSet(viewsets.ReadOnlyModelViewSet):
    pagination_class = EventCursorPagination
    lookup_value_regex = _UUID
    #: Time limit of each query of a request (``statement_timeout``); a list without
    #: ``since``/``until`` reads every partition and is bounded by it.
    statement_timeout_ms = 10_000
    # The OpenAPI schema (schema/) whatever the project's DEFAULT_SCHEMA_CLASS.
    schema = EventSchema()

    def get_model(self) -> type[Model]:
        raise NotImplementedError

    def get_permissions(self) -> list[BasePermission]:
        return get_permissions()

    def perform_authentication(self, request: Any) -> None:
        """Authenticate; credentials PostgreSQL cannot even compare are refused (401/403).

        DRF's ``BasicAuthentication`` looks up whatever username the header
        carries: one with a NUL character makes PostgreSQL refuse the query (a
        500). The lookup runs in a savepoint so the refusal leaves any outer
        transaction usable.
        """
        try:
            with transaction.atomic(using=router.db_for_read(get_user_model())):
                request.user  # noqa: B018 - authenticates
        except DataError as exc:
            request._not_authenticated()
            raise AuthenticationFailed("Invalid credentials.") from exc

    def get_queryset(self) -> QuerySet[Any]:
        return events_for_reading(self.get_model())

    def list(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self._bounded(lambda: super(_EventViewSet, self).list(request, *args, **kwargs))

    def retrieve(self, request: Any, *args: Any, **kwargs: Any) -> Any:
        return self._bounded(lambda: super(_EventViewSet, self).retrieve(request, *args, **kwargs))

    def _bounded(self, view: Any) -> Any:
        """The response of ``view``, its queries run under ``statement_timeout_ms`` (else 503)."""
        try:
            with statement_timeout(self.get_queryset().db, self.statement_timeout_ms):
                return view()
        except OperationalError as exc:
            if not is_query_canceled(exc):
                raise
            raise QueryTimedOut from exc

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
