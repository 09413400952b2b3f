# Hand-written: the SQL functions changed after 0005 (the plan reads the day
# tables once through the new audit_events_day_tables; new days in an index-less
# archive copy the live table's indexes through audit_events_index_template; the
# digest orders by the day's own key when the parent has none). A database
# migrated before gets them here; InstallSQLFunctions reads the files when it runs.

from django.db import migrations

from audit_events.operations import InstallSQLFunctions
from audit_events.sqlfiles import FUNCTION_FILES
from audit_events.tamper import DIGEST_FILES


class Migration(migrations.Migration):
    dependencies = [
        ("audit_events", "0005_seal_days"),
    ]

    operations = [
        InstallSQLFunctions(files=(*FUNCTION_FILES, *DIGEST_FILES)),
    ]
