# The append-only guard on the swapped tables, as docs/swapping.md tells users to add.

from django.db import migrations

from audit_events.guard import AppendOnly


class Migration(migrations.Migration):
    dependencies = [
        ("audit_events", "0002_append_only_guard"),  # installs the guard function
        ("swapapp", "0001_initial"),
    ]

    operations = [
        AppendOnly("ArchivedTenantEvent"),
        AppendOnly("TenantEvent"),
    ]
