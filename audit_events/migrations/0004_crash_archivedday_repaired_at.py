# Hand-written: ArchivedDay.repaired_at marks a ledger row that rotation made for
# an archive day found without one, so that verify_audit_events keeps reporting
# it (see docs/reliability.md, "States between steps").

from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("audit_events", "0003_day_digest"),
    ]

    operations = [
        migrations.AddField(
            model_name="archivedday",
            name="repaired_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
