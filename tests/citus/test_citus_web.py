"""The admin and the REST API on the Citus cluster, with a tenant filter routed to one shard."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from rest_framework.test import APIRequestFactory, force_authenticate

from audit_events.readers import events_for_reading
from audit_events.rest.views import AuditEventViewSet
from tests.swapapp.models import TenantEvent
from tests.testapp.models import Article

pytestmark = pytest.mark.usefixtures("cluster_db")


class TenantEventViewSet(AuditEventViewSet):
    """What a SaaS project serves: only the requesting tenant's events."""

    def get_queryset(self):  # type: ignore[no-untyped-def]
        return super().get_queryset().filter(tenant=self.request.headers["X-Tenant"])


@pytest.fixture
def superuser(cluster_db):
    user, _ = get_user_model().objects.get_or_create(
        username="citus-admin", defaults={"is_staff": True, "is_superuser": True}
    )
    return user


@pytest.fixture
def tenant_events(cluster_db):
    article = Article.objects.create(title="web")
    for tenant in ("web-a", "web-b"):
        for n in range(3):
            TenantEvent(content_object=article, tenant=tenant, content={"n": n}).save()


@pytest.mark.usefixtures("tenant_events")
def test_rest_list_for_one_tenant_returns_its_events_from_one_shard(superuser):
    request = APIRequestFactory().get("/api/audit/events/", HTTP_X_TENANT="web-a")
    force_authenticate(request, user=superuser)
    view = TenantEventViewSet.as_view({"get": "list"})
    response = view(request)
    assert response.status_code == 200
    expected = {
        str(pk) for pk in TenantEvent.objects.filter(tenant="web-a").values_list("pk", flat=True)
    }
    assert {str(row["id"]) for row in response.data["results"]} == expected
    assert len(expected) >= 3

    # The view's queryset with the tenant filter: one task, on the tenant's shard.
    assert "Task Count: 1" in events_for_reading(TenantEvent).filter(tenant="web-a").explain()


@pytest.mark.usefixtures("tenant_events")
def test_admin_lists_and_shows_events_on_the_cluster(client, superuser):
    client.force_login(superuser)
    changelist = client.get("/admin/swapapp/tenantevent/", follow=True)  # to today's page
    assert changelist.status_code == 200
    assert "web-a" in changelist.content.decode() or "audit event" in changelist.content.decode()
    event = TenantEvent.objects.filter(tenant="web-b").first()
    change = client.get(f"/admin/swapapp/tenantevent/{event.pk}/change/")
    assert change.status_code == 200
    assert "View audit event" in change.content.decode()
