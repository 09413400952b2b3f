"""The OpenAPI 3 schema of the read API (drf-spectacular), served at ``schema/``.

The schema describes the two list and two detail endpoints, their query
parameters and every answer they give (200, 400 keyed by parameter, 401/403,
404). ``tests/test_api_schema.py`` runs schemathesis against it: every
endpoint, as staff and as an anonymous caller, no 5xx and every answer
conforming to the schema.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, inline_serializer
from drf_spectacular.views import SpectacularAPIView
from rest_framework import serializers

__all__ = [
    "DETAIL_RESPONSES",
    "FILTER_PARAMETERS",
    "LIST_ERROR_RESPONSES",
    "EventSchema",
    "EventSchemaView",
    "only_event_endpoints",
]

_DETAIL = inline_serializer("ErrorDetail", {"detail": serializers.CharField()})
_REFUSED = {
    401: OpenApiResponse(
        _DETAIL,
        description="Not authenticated (with an authentication class that asks for credentials).",
    ),
    403: OpenApiResponse(_DETAIL, description="Not authenticated, or not allowed to view events."),
}

_TIMED_OUT = {
    503: OpenApiResponse(_DETAIL, description="The read took longer than the view allows."),
}

#: Responses of a list besides its page: a 400 body maps each bad parameter to its messages.
LIST_ERROR_RESPONSES: dict[int, Any] = {
    400: OpenApiResponse(
        {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "string"}}},
        description="A parameter is invalid; the body is keyed by the parameter's name.",
    ),
    **_REFUSED,
    **_TIMED_OUT,
}
#: Responses of a detail besides the event.
DETAIL_RESPONSES: dict[int, Any] = {
    404: OpenApiResponse(_DETAIL, description="No event has this id."),
    **_REFUSED,
    **_TIMED_OUT,
}

FILTER_PARAMETERS = [
    OpenApiParameter("user", str, description="A user id."),
    OpenApiParameter(
        "content_type", str, description="A content type id or an 'app_label.model' name."
    ),
    OpenApiParameter("object_id", str, description="An object's primary key (needs content_type)."),
    OpenApiParameter(
        "since",
        str,
        description="ISO 8601 date or datetime, included (dates and naive datetimes are UTC).",
    ),
    OpenApiParameter("until", str, description="ISO 8601 date or datetime, excluded."),
]


class EventSchema(AutoSchema):
    """The operations of an event viewset: filters and error answers included.

    Set on the viewsets themselves, so the schema does not depend on the
    project's ``DEFAULT_SCHEMA_CLASS``.
    """

    def get_override_parameters(self) -> list[Any]:
        return FILTER_PARAMETERS if self.view.action == "list" else []

    def get_response_serializers(self) -> Any:
        errors = LIST_ERROR_RESPONSES if self.view.action == "list" else DETAIL_RESPONSES
        return {200: self.view.get_serializer_class(), **errors}


def only_event_endpoints(endpoints: list[Any], **kwargs: Any) -> list[Any]:
    """drf-spectacular preprocessing hook: keep the event viewsets' endpoints only.

    The schema is built from the project's URLconf, so paths carry the prefix the
    API is included under; other DRF views of the project are left out.
    """
    from audit_events.rest.views import _EventViewSet

    return [
        (path, path_regex, method, callback)
        for path, path_regex, method, callback in endpoints
        if issubclass(getattr(callback, "cls", type), _EventViewSet)
    ]


class EventSchemaView(SpectacularAPIView):
    """``GET schema/``: the API's OpenAPI 3 schema (YAML; JSON with ``?format=json``).

    Public, like any API description: it holds no event data.
    """

    custom_settings = {
        "TITLE": "audit_events read API",
        "DESCRIPTION": "Read-only API of live and archived audit events. See docs/api-rest.md.",
        "VERSION": "1",
        "PREPROCESSING_HOOKS": ["audit_events.rest.schema.only_event_endpoints"],
    }
