"""Event models whose table names try to break out of SQL (see tests/test_injection.py).

Django's own quoting cannot hold a double quote inside a name, so these names
use everything else: single quotes, semicolons, comment markers, spaces,
parentheses, mixed case, multi-byte characters, and the full 63 bytes of a
PostgreSQL identifier (so every derived name, partition or spool, must be
shortened). Names with double quotes are tested on the SQL functions directly.
"""

from audit_events.models import AbstractArchivedAuditEvent, AbstractAuditEvent

# 63 bytes: the longest identifier PostgreSQL keeps whole.
LIVE_TABLE = "évènements d'audit; DROP TABLE audit_events_auditevent; -- xx"
# Short enough (<= 53 bytes) that partition names keep it whole, hostile parts and all.
ARCHIVE_TABLE = "Archive') ; SELECT pg_sleep(5); -- ☠"


class HostileEvent(AbstractAuditEvent):
    class Meta(AbstractAuditEvent.Meta):
        db_table = LIVE_TABLE


class HostileArchivedEvent(AbstractArchivedAuditEvent):
    class Meta(AbstractArchivedAuditEvent.Meta):
        db_table = ARCHIVE_TABLE
