"""tests/swapapp's DistributeByColumn migration (0003) on plain PostgreSQL: nothing changes."""

import pytest

from audit_events.distribution import is_distributed
from tests.swapapp.models import ArchivedTenantEvent, TenantEvent
from tests.test_distribution import primary_key

pytestmark = pytest.mark.django_db


def test_distribution_migration_leaves_plain_postgresql_tables_as_they_were():
    assert primary_key("swapapp_tenantevent") == ["id", "timestamp"]
    assert primary_key("swapapp_archivedtenantevent") == ["id", "timestamp"]
    assert not is_distributed(TenantEvent) and not is_distributed(ArchivedTenantEvent)
