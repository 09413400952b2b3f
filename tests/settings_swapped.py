"""Test settings with the event models swapped for tests/swapapp's."""

from tests.settings import *  # noqa: F403

INSTALLED_APPS = [*INSTALLED_APPS, "tests.swapapp"]  # noqa: F405
AUDIT_EVENT_MODEL = "swapapp.TenantEvent"
AUDIT_EVENT_ARCHIVE_MODEL = "swapapp.ArchivedTenantEvent"
