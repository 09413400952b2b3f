# Hand-written: stored audit events become append-only (see audit_events.guard
# and docs/reliability.md). The guard function is installed from sql/ like the
# functions of 0001; each table gets its triggers from the AppendOnly operation,
# which swapped models use in their own migrations.

from django.db import migrations

from audit_events.guard import GUARD_FILES, AppendOnly
from audit_events.operations import InstallSQLFunctions


class Migration(migrations.Migration):
    dependencies = [
        ("audit_events", "0001_initial"),
    ]

    operations = [
        InstallSQLFunctions(files=GUARD_FILES),
        AppendOnly("ArchivedAuditEvent"),
        AppendOnly("AuditEvent"),
    ]
