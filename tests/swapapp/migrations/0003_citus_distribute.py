# On Citus, distribute both swapped tables by tenant (docs/scaling.md); a no-op on
# plain PostgreSQL, where the swapped suite runs the same migration.

from django.db import migrations

from audit_events.operations import DistributeByColumn


class Migration(migrations.Migration):
    dependencies = [("swapapp", "0002_append_only")]

    operations = [
        DistributeByColumn("TenantEvent", "ArchivedTenantEvent", "tenant"),
    ]
