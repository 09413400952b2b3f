"""The SQL files shipped under ``sql/`` (in the wheel: ``audit_events/sql/``).

Migrations, commands and the DBA path all run these same files, so the Python
and SQL paths cannot drift apart.
"""

from __future__ import annotations

from functools import cache
from pathlib import Path

__all__ = ["FUNCTION_FILES", "read_sql", "sql_dir"]

#: Files defining the SQL functions and views, in dependency order.
FUNCTION_FILES = (
    "event_id.sql",
    "partition_name.sql",
    "qualified_name.sql",
    "partition_bounds.sql",
    "partition_for_day.sql",
    "index_template.sql",
    "create_day_partition.sql",
    "create_day_partitions.sql",
    "premake.sql",
    "check_bounds.sql",
    "day_tables.sql",
    "partition_status.sql",
    "is_distributed.sql",
    "step_statements.sql",
    "plan_maintenance.sql",
    "maintenance_statements.sql",
    "begin_maintenance.sql",
)


@cache
def sql_dir() -> Path:
    """The directory holding the SQL files (installed wheel or source checkout)."""
    package_dir = Path(__file__).resolve().parent
    for candidate in (package_dir / "sql", package_dir.parent / "sql"):
        if (candidate / FUNCTION_FILES[0]).exists():
            return candidate
    raise FileNotFoundError(f"audit_events SQL files not found next to {package_dir}")


def read_sql(name: str) -> str:
    """Return the text of the shipped SQL file ``name``."""
    return (sql_dir() / name).read_text(encoding="utf-8")
