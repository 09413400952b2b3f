"""Audit events as database rows: values converted as ``Model.save()`` would, fast.

Django's ``pre_save`` + ``get_db_prep_save`` cost about a microsecond per field
and row, and compiling an ``INSERT`` through the ORM costs more than the
round trip it prepares. An audit event is written once and never updated, so
``save()`` of a new event uses a statement built once per model and database
(``insert_event``), and ``bulk_create_events`` the same value converters.
Values that Django would pass through unchanged are passed as they are; every
other value takes Django's own path, so the stored row is the same. The
``INSERT`` is prepared once per session and then only executed
(``_execute_prepared``).
"""

from __future__ import annotations

import datetime
import json
import uuid
from collections.abc import Callable
from functools import cache
from typing import Any

import psycopg
from django.db import connections, models, transaction
from django.db.backends.base.base import BaseDatabaseWrapper
from django.db.backends.postgresql.psycopg_any import is_psycopg3
from django.db.models import Field
from django.db.models.signals import post_save, pre_save
from psycopg import sql

from audit_events.partitions import table_of
from audit_events.utils import is_canonical_ip

__all__ = ["converter", "insert_event"]

Converter = Callable[[models.Model], Any]

# Field classes (exactly these, not subclasses) for which Django's conversion of a
# value of the given Python type is the value itself on PostgreSQL: such values
# go to COPY as they are. Any other field or value takes Django's own path.
_AS_IS: dict[type[Field[Any, Any]], tuple[type, ...]] = {
    models.CharField: (str,),
    models.TextField: (str,),
    models.UUIDField: (uuid.UUID,),
    models.IntegerField: (int,),
    models.BigIntegerField: (int,),
    models.AutoField: (int,),
    models.BigAutoField: (int,),
}


def converter(field: Field[Any, Any], connection: BaseDatabaseWrapper) -> Converter:
    """How to turn an event into ``field``'s COPY value, as ``Model.save()`` would.

    Django's ``pre_save`` + ``get_db_prep_save`` cost about a microsecond per
    field and row, as much as COPY itself; most values need neither.
    """
    attname = field.attname

    def django_path(event: models.Model) -> Any:
        return field.get_db_prep_save(field.pre_save(event, True), connection)

    if isinstance(field, models.DateField) and (field.auto_now or field.auto_now_add):
        return django_path
    if type(field).pre_save is not Field.pre_save and not isinstance(field, models.DateField):
        return django_path
    target = field.target_field if isinstance(field, models.ForeignKey) else field
    as_is = _AS_IS.get(type(target), ())
    if type(field) is models.DateTimeField:
        as_is = (datetime.datetime,)  # aware: day_of() has refused naive timestamps
    if type(field) is models.JSONField:
        return _json_converter(field, django_path)
    if type(field) is models.GenericIPAddressField:
        return _ip_converter(field, django_path)

    def fast_path(event: models.Model) -> Any:
        value = getattr(event, attname)
        if (value is None and field.null) or type(value) in as_is:
            return value
        return django_path(event)

    return fast_path


def _json_converter(field: models.JSONField, django_path: Converter) -> Converter:
    attname, encoder = field.attname, field.encoder

    def convert(event: models.Model) -> Any:
        value = getattr(event, attname)
        if type(value) is dict:
            # What Django's Jsonb adapter would send, as text COPY reads it.
            return json.dumps(value, cls=encoder) if value else "{}"
        return django_path(event)

    return convert


def _ip_converter(
    field: models.GenericIPAddressField[Any, Any], django_path: Converter
) -> Converter:
    attname = field.attname
    # Django parses the address once more to adapt it; an address already in
    # the canonical form Django would store (as AuditContext records it) goes
    # as text, which the server reads as inet.
    plain = field.protocol.lower() == "both" and not field.unpack_ipv4

    def convert(event: models.Model) -> Any:
        value = getattr(event, attname)
        if value is None and field.null:
            return None
        if plain and type(value) is str and is_canonical_ip(value):
            return value
        return django_path(event)

    return convert


@cache
def _insert_plan(model: type[models.Model], alias: str) -> tuple[str, list[Converter]]:
    connection = connections[alias]
    fields = list(model._meta.concrete_fields)
    statement = sql.SQL("INSERT INTO {table} ({columns}) VALUES ({values})").format(
        table=sql.Identifier(table_of(model)),
        columns=sql.SQL(", ").join([sql.Identifier(str(f.column)) for f in fields]),
        values=sql.SQL(", ").join([sql.Placeholder()] * len(fields)),
    )
    return statement.as_string(), [converter(f, connection) for f in fields]


def _can_prepare(connection: BaseDatabaseWrapper) -> bool:
    """Whether the event's ``INSERT`` may go as a server-side prepared statement.

    Not when anything watches Django's cursors (``DEBUG``'s query log,
    ``assertNumQueries``, execute wrappers such as a debug toolbar): they see
    every statement through the usual path. Not with psycopg 2, nor when the
    database is configured for a transaction-pooling proxy
    (``DISABLE_SERVER_SIDE_CURSORS``, as PgBouncer in transaction mode
    needs): a prepared statement lives in one server session.
    """
    return (
        is_psycopg3
        and not connection.queries_logged
        and not connection.execute_wrappers
        and not connection.settings_dict.get("DISABLE_SERVER_SIDE_CURSORS")
    )


def _execute_prepared(connection: BaseDatabaseWrapper, statement: str, values: list[Any]) -> None:
    """Run ``statement`` as a prepared statement of the connection's session.

    Django's cursors bind values on the client (a new literal-laden statement
    each time, parsed and planned again by the server); this one is parsed and
    planned once per session, then only its values travel. Errors are Django's,
    as through ``connection.cursor()``.
    """
    connection.ensure_connection()
    connection.validate_thread_sharing()
    connection.validate_no_broken_transaction()
    raw = connection.connection
    cursor = _insert_cursor(connection, raw)
    # Django turns psycopg's statement preparation off for the whole connection
    # (prepare_threshold=None, for poolers); it is allowed for this one statement.
    threshold = raw.prepare_threshold
    raw.prepare_threshold = 0 if threshold is None else threshold
    try:
        with connection.wrap_database_errors:
            cursor.execute(statement, values, prepare=True)
    finally:
        raw.prepare_threshold = threshold


#: Attribute of a Django connection holding its event-insert cursor.
_CURSOR = "_audit_events_insert_cursor"


def _insert_cursor(connection: BaseDatabaseWrapper, raw: Any) -> psycopg.Cursor[Any]:
    """The psycopg cursor that inserts events on ``raw``, made once per session.

    A cursor keeps the dumpers it chose for each Python type: a new cursor per
    event would look them all up again. A reconnection gets a new cursor.
    """
    cursor = getattr(connection, _CURSOR, None)
    if cursor is None or cursor.connection is not raw or cursor.closed:
        cursor = psycopg.Cursor(raw)
        setattr(connection, _CURSOR, cursor)
    return cursor


def can_insert_directly(
    model: type[models.Model], args: tuple[Any, ...], kwargs: dict[str, Any]
) -> bool:
    """Whether ``save(*args, **kwargs)`` of a new ``model`` instance can use ``insert_event``.

    Only a plain ``save()`` or ``save(using=...)`` of a single-table model: any
    other argument (``update_fields``, ``force_update``...) takes Django's path.
    """
    return not args and set(kwargs) <= {"using"} and not model._meta.parents


def insert_event(event: models.Model, using: str) -> None:
    """Insert new ``event`` with one ``INSERT``, as ``Model.save()`` would.

    Sends ``pre_save`` and ``post_save`` (when anyone listens), fills the
    foreign key ids of related objects assigned before they were saved, and
    marks the instance as saved.
    """
    model = type(event)
    if pre_save.has_listeners(model):
        pre_save.send(sender=model, instance=event, raw=False, using=using, update_fields=None)
    # What Model.save() does first: refuse unsaved related objects, copy their ids.
    event._prepare_related_fields_for_save(operation_name="save")  # type: ignore[attr-defined]
    statement, converters = _insert_plan(model, using)
    values = [convert(event) for convert in converters]
    connection = connections[using]
    with transaction.mark_for_rollback_on_error(using):
        if _can_prepare(connection):
            _execute_prepared(connection, statement, values)
        else:
            with connection.cursor() as cursor:
                cursor.execute(statement, values)
    event._state.adding = False
    event._state.db = using
    if post_save.has_listeners(model):
        post_save.send(
            sender=model, instance=event, created=True, update_fields=None, raw=False, using=using
        )
