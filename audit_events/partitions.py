"""Day partitions: naming, bounds and DDL.

All DDL is built with ``psycopg.sql`` (identifiers quoted, never formatted in)
or runs the SQL functions shipped under ``sql/``, which the DBA path uses too.
A partition holds one UTC day: ``[day 00:00 UTC, day+1 00:00 UTC)``.
"""

from __future__ import annotations

import datetime
import hashlib
import logging
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any, TypeVar

from django.db import DEFAULT_DB_ALIAS, connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from psycopg import sql

from audit_events.conf import settings
from audit_events.exceptions import PartitioningError
from audit_events.ids import ID_CHECK_NAME, id_check_sql
from audit_events.locks import retry_on_lock_timeout

__all__ = [
    "PartitionInfo",
    "create_day_partitions",
    "day_bounds",
    "list_partitions",
    "partition_table",
    "utc_today",
]

logger = logging.getLogger("audit_events")

T = TypeVar("T")


@dataclass(frozen=True)
class PartitionInfo:
    """One partition of a day-partitioned table, as the catalog describes it."""

    name: str
    lower_bound: datetime.datetime
    upper_bound: datetime.datetime
    detach_pending: bool

    @property
    def day(self) -> datetime.date:
        return self.lower_bound.astimezone(datetime.UTC).date()


def utc_today() -> datetime.date:
    """Today's date in UTC, the time zone partitions are cut in."""
    return datetime.datetime.now(datetime.UTC).date()


#: The days a partition can hold: both bounds of the day must be Python datetimes
#: (PostgreSQL reaches further, but a bound past year 9999 could not be read back),
#: and an event id (a UUIDv7, see ``audit_events.ids``) counts from 1970.
FIRST_DAY = datetime.date(1970, 1, 1)
LAST_DAY = datetime.date(9999, 12, 30)


def partition_day(timestamp: datetime.datetime) -> datetime.date:
    """The UTC day, and so the partition, of an aware ``timestamp``.

    Raises:
        ValueError: the day is outside ``FIRST_DAY`` .. ``LAST_DAY``; nothing
            was written (an event there would make its partition's bounds
            unreadable, and with them every partition listing).
    """
    try:
        day = timestamp.astimezone(datetime.UTC).date()
    except OverflowError:
        day = None
    if day is None or not FIRST_DAY <= day <= LAST_DAY:
        raise ValueError(
            f"Audit event timestamp {timestamp.isoformat()} is out of range: its UTC day must "
            f"be from {FIRST_DAY} to {LAST_DAY}."
        )
    return day


def check_days(first_day: datetime.date, last_day: datetime.date) -> None:
    """Raise ``ValueError`` unless ``first_day .. last_day`` is a range partitions can hold."""
    if last_day < first_day:
        raise ValueError(f"last_day {last_day} is before first_day {first_day}")
    if first_day < FIRST_DAY or last_day > LAST_DAY:
        raise ValueError(
            f"days {first_day} to {last_day} are out of range: partitions hold days from "
            f"{FIRST_DAY} to {LAST_DAY}."
        )


def day_bounds(day: datetime.date) -> tuple[datetime.datetime, datetime.datetime]:
    """The half-open range ``[start, end)`` of UTC day ``day``."""
    start = datetime.datetime.combine(day, datetime.time.min, tzinfo=datetime.UTC)
    return start, start + datetime.timedelta(days=1)


def days_between(first: datetime.date, last: datetime.date) -> Iterator[datetime.date]:
    """Every day from ``first`` to ``last``, both included."""
    for offset in range((last - first).days + 1):
        yield first + datetime.timedelta(days=offset)


def table_of(model: type[models.Model]) -> str:
    """The table name of ``model``."""
    return str(model._meta.db_table)


def run_with_lock_retries(
    connection: BaseDatabaseWrapper, work: Callable[[Any], T], what: str
) -> T:
    """Run ``work(cursor)`` in its own transaction under a short ``lock_timeout``.

    DDL on a busy parent must never queue for long: while it waits for its lock,
    every later insert and select on that table queues behind it. So each try
    gives up after ``AUDIT_LOCK_TIMEOUT_MS`` and is retried (with backoff) up to
    ``AUDIT_DDL_RETRIES`` times (see ``audit_events.locks``).

    Raises:
        PartitioningError: the lock could not be had after all retries.
    """

    def attempt() -> T:
        with transaction.atomic(using=connection.alias), connection.cursor() as cursor:
            cursor.execute(
                "SELECT set_config('lock_timeout', %s, true)",
                [f"{settings.AUDIT_LOCK_TIMEOUT_MS}ms"],
            )
            return work(cursor)

    return retry_on_lock_timeout(attempt, what)


def create_day_partitions(
    model: type[models.Model],
    first_day: datetime.date,
    last_day: datetime.date,
    using: str = DEFAULT_DB_ALIAS,
) -> list[str]:
    """Make sure ``model``'s table has a partition for every day in a range.

    Each day is created and attached in its own short transaction (see
    ``sql/create_day_partition.sql``), so the parent is never locked for the
    whole range. Existing partitions are left as they are, and so is a day
    already archived (its table, attached to the archive table, is the one
    named): running it twice, or over archived days, changes nothing. Use it to prepare
    partitions for a backfill or import of historical events.

    Args:
        model: a model whose table was partitioned with ``PartitionByDay``.
        first_day: the first UTC day, included.
        last_day: the last UTC day, included.
        using: the database alias.

    Returns:
        The partition names, one per day, in day order.

    Raises:
        ValueError: ``last_day`` is before ``first_day``, or a day is out of the
            range partitions can hold (``FIRST_DAY`` .. ``LAST_DAY``).
        PartitioningError: a lock could not be had (see ``run_with_lock_retries``).
    """
    check_days(first_day, last_day)
    connection = connections[using]
    table = table_of(model)

    def create(day: datetime.date) -> str:
        def work(cursor: Any) -> str:
            bound_ddl_on_workers(cursor, _regclass_literal(connection, table))
            cursor.execute(
                "SELECT audit_events_create_day_partition(%s::regclass, %s)::text",
                [_regclass_literal(connection, table), day],
            )
            return str(cursor.fetchone()[0])

        return run_with_lock_retries(connection, work, f"create partition of {table} for {day}")

    return [create(day) for day in days_between(first_day, last_day)]


def bound_ddl_on_workers(cursor: Any, table: str) -> None:
    """On Citus, bound this transaction's DDL on ``table`` as a maintenance step is.

    A coordinator ``lock_timeout`` does not bound waits on the workers, so the
    transaction's ``statement_timeout`` becomes the session's ``lock_timeout``;
    and DDL goes over one connection per worker (``sql/step_statements.sql``).
    Does nothing on plain PostgreSQL. ``table`` is quoted for ``::regclass``.
    """
    cursor.execute(
        "SELECT set_config('statement_timeout', current_setting('lock_timeout'), true), "
        "set_config('citus.multi_shard_modify_mode', 'sequential', true) "
        "WHERE audit_events_is_distributed(%s::regclass)",
        [table],
    )


def list_partitions(
    model: type[models.Model], using: str = DEFAULT_DB_ALIAS
) -> list[PartitionInfo]:
    """The partitions of ``model``'s table, in bound order, read from the catalog."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            """
            SELECT i.inhrelid::regclass::text, b.lower_bound, b.upper_bound, i.inhdetachpending
            FROM pg_inherits AS i,
                 audit_events_partition_bounds(i.inhrelid::regclass) AS b
            WHERE i.inhparent = %s::regclass
            ORDER BY b.lower_bound
            """,
            [_regclass_literal(connection, table_of(model))],
        )
        return [PartitionInfo(*row) for row in cursor.fetchall()]


def _regclass_literal(connection: BaseDatabaseWrapper, table: str) -> str:
    """The table name quoted so that ``::regclass`` resolves exactly this name."""
    return str(connection.ops.quote_name(table))


# --- Turning a freshly created model table into a partitioned one -------------


def partition_table(schema_editor: Any, model: type[models.Model]) -> None:
    """Rebuild ``model``'s (new, empty) table as ``PARTITION BY RANGE (timestamp)``.

    PostgreSQL cannot turn an existing table into a partitioned one, so the
    table Django just created is replaced by one ``LIKE`` it (same columns,
    defaults and CHECK constraints, no FKs), with the primary key widened to
    ``(id, timestamp)``, the CHECK that ``timestamp`` is the time in ``id``
    (``audit_events.ids``; named alike on every table, so that a day table can
    move between the live and archive tables) and the lookup indexes every
    event table has.

    Raises:
        PartitioningError: the model has a unique constraint that does not
            include the partition key, which PostgreSQL cannot enforce.
    """
    _refuse_unique_constraints(model)
    table = table_of(model)
    # Django queued index/constraint SQL for the plain table; it would run against
    # the rebuilt one by name. Indexes are fine on a partitioned parent, but the
    # list is filtered to what a partitioned table accepts.
    _drop_deferred_constraints(schema_editor, table)
    for statement in _partitioning_statements(model):
        schema_editor.execute(statement.as_string(schema_editor.connection.connection))


def _partitioning_statements(model: type[models.Model]) -> list[sql.Composed]:
    table = table_of(model)
    rebuilt = short_name(table, "_partitioned")
    column = _column_identifiers(model)
    ident = sql.Identifier
    return [
        sql.SQL(
            "CREATE TABLE {rebuilt} (LIKE {table} INCLUDING DEFAULTS INCLUDING CONSTRAINTS "
            "INCLUDING STORAGE INCLUDING COMMENTS INCLUDING GENERATED) "
            "PARTITION BY RANGE ({timestamp})"
        ).format(rebuilt=ident(rebuilt), table=ident(table), timestamp=column["timestamp"]),
        sql.SQL("DROP TABLE {table}").format(table=ident(table)),
        sql.SQL("ALTER TABLE {rebuilt} RENAME TO {table}").format(
            rebuilt=ident(rebuilt), table=ident(table)
        ),
        sql.SQL("ALTER TABLE {table} ADD CONSTRAINT {name} PRIMARY KEY ({id}, {timestamp})").format(
            table=ident(table), name=ident(short_name(table, "_pkey")), **column
        ),
        sql.SQL("ALTER TABLE {table} ADD CONSTRAINT {name} CHECK ({check})").format(
            table=ident(table),
            name=ident(ID_CHECK_NAME),
            check=sql.SQL(
                id_check_sql(
                    column["id"].as_string(),
                    column["timestamp"].as_string(),
                )
            ),
        ),
        *_index_statements(table, column),
    ]


def index_statements(model: type[models.Model]) -> list[sql.Composed]:
    """The lookup indexes ``PartitionByDay`` gives ``model``'s partitioned table."""
    return _index_statements(table_of(model), _column_identifiers(model))


def _index_statements(table: str, column: dict[str, sql.Identifier]) -> list[sql.Composed]:
    """The lookup indexes, identical on live and archive tables so ATTACH reuses them."""
    definitions = {
        # "Events of this object", newest first.
        "_object_idx": sql.SQL("btree ({content_type_id}, {object_id}, {timestamp})"),
        # "Events of this user".
        "_user_idx": sql.SQL("btree ({user_id}, {timestamp})"),
        # Time ranges inside a day: 24 kB of BRIN instead of a 21 MB B-tree per 1M rows.
        "_timestamp_brin": sql.SQL("brin ({timestamp})"),
    }
    return [
        sql.SQL("CREATE INDEX {name} ON {table} USING {definition}").format(
            name=sql.Identifier(short_name(table, suffix)),
            table=sql.Identifier(table),
            definition=definition.format(**column),
        )
        for suffix, definition in definitions.items()
    ]


def column_of(model: type[models.Model], field_name: str = "pk") -> str:
    """The database column of ``model``'s field ``field_name`` (``"pk"``: the primary key)."""
    field = model._meta.pk if field_name == "pk" else model._meta.get_field(field_name)
    column = getattr(field, "column", None)
    if not isinstance(column, str):
        raise PartitioningError(f"{model._meta.label}.{field_name} has no database column.")
    return column


def db_type_of(field: Any, connection: BaseDatabaseWrapper) -> str:
    """The PostgreSQL type of ``field``'s column (e.g. ``uuid``, ``jsonb``)."""
    db_type = field.db_type(connection)
    if not isinstance(db_type, str):
        raise PartitioningError(f"{field} has no database column type.")
    return db_type


def _column_identifiers(model: type[models.Model]) -> dict[str, sql.Identifier]:
    names = {
        "id": "pk",
        "timestamp": "timestamp",
        "content_type_id": "content_type",
        "object_id": "object_id",
        "user_id": "user",
    }
    return {key: sql.Identifier(column_of(model, name)) for key, name in names.items()}


def short_name(table: str, suffix: str) -> str:
    """``table + suffix`` within PostgreSQL's 63-byte identifier limit."""
    name = table + suffix
    if len(name.encode()) <= 63:
        return name
    digest = hashlib.md5(table.encode(), usedforsecurity=False).hexdigest()[:8]
    return f"audit_events_{digest}{suffix}"[:63]


def _refuse_unique_constraints(model: type[models.Model]) -> None:
    opts = model._meta
    unique_fields = [f.name for f in opts.local_concrete_fields if f.unique and not f.primary_key]
    unique_constraints = [
        c.name for c in opts.constraints if isinstance(c, models.UniqueConstraint)
    ]
    if unique_fields or unique_constraints or opts.unique_together:
        offending = ", ".join(unique_fields + unique_constraints) or str(opts.unique_together)
        raise PartitioningError(
            f"{opts.label} cannot be partitioned by day: {offending} is unique, and PostgreSQL "
            "only enforces uniqueness on a partitioned table when the key includes the "
            "partition column 'timestamp'. Remove unique=True or add 'timestamp' to the constraint."
        )


def _drop_deferred_constraints(schema_editor: Any, table: str) -> None:
    from django.db.backends.ddl_references import Statement

    schema_editor.deferred_sql = [
        statement
        for statement in schema_editor.deferred_sql
        if not (
            isinstance(statement, Statement)
            and statement.references_table(table)
            and "FOREIGN KEY" in str(statement)
        )
    ]


def premake_in_migration(schema_editor: Any, model: type[models.Model]) -> None:
    """Create partitions from yesterday to ``AUDIT_PARTITION_PREMAKE_DAYS`` ahead.

    Runs inside the migration's transaction: the table was created moments ago,
    so nobody else can be waiting on it.
    """
    today = utc_today()
    schema_editor.execute(
        "SELECT audit_events_create_day_partitions(%s::regclass, %s, %s)",
        [
            schema_editor.quote_name(table_of(model)),
            today - datetime.timedelta(days=1),
            today + datetime.timedelta(days=settings.AUDIT_PARTITION_PREMAKE_DAYS),
        ],
    )
