# Hand-written: the SQL function that counts and hashes one day of an event
# table, for the tamper evidence of archived days (see audit_events.tamper).

from django.db import migrations

from audit_events.operations import InstallSQLFunctions
from audit_events.tamper import DIGEST_FILES


class Migration(migrations.Migration):
    dependencies = [
        ("audit_events", "0002_append_only_guard"),
    ]

    operations = [
        InstallSQLFunctions(files=DIGEST_FILES),
    ]
