"""django-audit-events' URLs: ``include("audit_events.urls")``, same route names.

As in the original, a ``DefaultRouter`` serves ``events/`` under the namespace
``app_name`` (the original's ``"django_audit_events"`` renamed with the package),
so ``reverse("audit_events:auditevent-list")`` and, with this module as the
root URLconf, ``reverse("auditevent-list")`` work. The views are
``audit_events.rest.views`` (our permissions, filters and pagination); archived
events are served too, as ``archivedauditevent-list``/``-detail``. New projects
use ``audit_events.rest.urls`` (docs/api-rest.md).
"""

from __future__ import annotations

from rest_framework.routers import DefaultRouter

from audit_events.rest.views import ArchivedAuditEventViewSet, AuditEventViewSet

__all__ = ["app_name", "router", "urlpatterns"]

app_name = "audit_events"

router = DefaultRouter()
router.register("events", AuditEventViewSet, basename="auditevent")
router.register("archived-events", ArchivedAuditEventViewSet, basename="archivedauditevent")

urlpatterns = router.urls
