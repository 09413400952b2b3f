"""URLs of the read API: ``include("audit_events.rest.urls")`` under any prefix.

URL names (namespace ``audit_events_api``): ``event-list``, ``event-detail``,
``archived-event-list``, ``archived-event-detail``, and ``schema`` (the OpenAPI
3 schema, ``schema/``).
"""

from __future__ import annotations

from django.urls import path
from rest_framework.routers import SimpleRouter

from audit_events.rest.schema import EventSchemaView
from audit_events.rest.views import ArchivedAuditEventViewSet, AuditEventViewSet

app_name = "audit_events_api"

router = SimpleRouter()
router.register("events", AuditEventViewSet, basename="event")
router.register("archived-events", ArchivedAuditEventViewSet, basename="archived-event")

urlpatterns = [path("schema/", EventSchemaView.as_view(), name="schema"), *router.urls]
