# Hand-checked: the seal ledger (SealedDay), the quarantine of spooled rows
# (QuarantinedEvent), and the trigger function that closes a sealed day to new
# rows (see audit_events.tamper and audit_events.quarantine).

import django.utils.timezone
from django.db import migrations, models

from audit_events.operations import InstallSQLFunctions
from audit_events.tamper import SEAL_FILES


class Migration(migrations.Migration):
    dependencies = [
        ("audit_events", "0004_crash_archivedday_repaired_at"),
    ]

    operations = [
        migrations.CreateModel(
            name="SealedDay",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("event_table", models.CharField(max_length=63)),
                ("day", models.DateField()),
                ("sealed_at", models.DateTimeField(default=django.utils.timezone.now)),
                ("row_count", models.BigIntegerField()),
                ("digest", models.CharField(max_length=64)),
                ("hashed_columns", models.JSONField(default=list)),
            ],
            options={
                "ordering": ["event_table", "day"],
                "constraints": [
                    models.UniqueConstraint(
                        fields=("event_table", "day"), name="audit_events_sealedday_unique"
                    )
                ],
            },
        ),
        migrations.CreateModel(
            name="QuarantinedEvent",
            fields=[
                (
                    "id",
                    models.BigAutoField(
                        auto_created=True, primary_key=True, serialize=False, verbose_name="ID"
                    ),
                ),
                ("event_table", models.CharField(max_length=63)),
                ("event_id", models.TextField()),
                ("timestamp", models.DateTimeField(blank=True, null=True)),
                ("day", models.DateField(blank=True, null=True)),
                ("row", models.JSONField()),
                ("reason", models.TextField()),
                ("spooled_at", models.DateTimeField(blank=True, null=True)),
                ("quarantined_at", models.DateTimeField(default=django.utils.timezone.now)),
            ],
            options={"ordering": ["event_table", "day", "quarantined_at"]},
        ),
        InstallSQLFunctions(files=SEAL_FILES),
    ]
