"""Stored audit events cannot be changed or deleted (docs/reliability.md, "Append-only")."""

import datetime

import pytest
from django.core.management import call_command
from django.db import ProgrammingError, connection, transaction
from django.utils import timezone
from psycopg import sql

from audit_events.exceptions import AppendOnlyError
from audit_events.guard import ROW_TRIGGER, allow_changes, is_guarded
from audit_events.models import ArchivedAuditEvent, AuditEvent
from audit_events.partitions import create_day_partitions, day_bounds, list_partitions
from audit_events.spool import drain_day, forget_partitioned_days, spool_table
from tests.testapp.models import Article

pytestmark = pytest.mark.django_db

FAR_DAY = datetime.date(2001, 2, 3)


@pytest.fixture
def article():
    return Article.objects.create(title="evidence")


@pytest.fixture
def event(article):
    event = AuditEvent(content_object=article, content={"action": "created"})
    event.save()
    return event


def refused(work):
    """Run ``work`` in a savepoint; return the database's error message."""
    with pytest.raises(ProgrammingError, match="append-only") as info, transaction.atomic():
        work()
    return str(info.value)


def execute(query, params=()):
    with connection.cursor() as cursor:
        cursor.execute(query.as_string(connection.connection), params)


def triggers_on(regclass):
    """Trigger names on a table given as regclass text (as list_partitions names it)."""
    with connection.cursor() as cursor:
        cursor.execute("SELECT tgname FROM pg_trigger WHERE tgrelid = %s::regclass", [regclass])
        return [row[0] for row in cursor.fetchall()]


# --- Model level: refused before reaching the database ---------------------------


def test_saving_a_stored_event_again_raises_before_any_query(event, django_assert_num_queries):
    event.content = {"action": "forged"}
    with django_assert_num_queries(0), pytest.raises(AppendOnlyError, match="append-only"):
        event.save()
    assert AuditEvent.objects.get(pk=event.pk).content == {"action": "created"}


def test_saving_a_loaded_event_raises(event):
    loaded = AuditEvent.objects.get(pk=event.pk)
    loaded.username = "someone else"
    with pytest.raises(AppendOnlyError):
        loaded.save(update_fields=["username"])


def test_deleting_an_event_raises_before_any_query(event, django_assert_num_queries):
    with django_assert_num_queries(0), pytest.raises(AppendOnlyError, match="cannot be deleted"):
        event.delete()
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_append_only_error_is_a_database_programming_error():
    assert issubclass(AppendOnlyError, ProgrammingError)


# --- Database level: the trigger ------------------------------------------------


def test_queryset_update_is_refused_by_the_database(event):
    message = refused(lambda: AuditEvent.objects.filter(pk=event.pk).update(content={"x": 1}))
    assert "UPDATE" in message
    assert AuditEvent.objects.get(pk=event.pk).content == {"action": "created"}


def test_queryset_delete_is_refused_by_the_database(event):
    message = refused(lambda: AuditEvent.objects.filter(pk=event.pk).delete())
    assert "DELETE" in message
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_moving_an_event_to_another_day_is_refused(event):
    """An UPDATE of the partition key (a cross-partition move) fires the guard too."""
    earlier = event.timestamp - datetime.timedelta(days=1)
    refused(lambda: AuditEvent.objects.filter(pk=event.pk).update(timestamp=earlier))
    assert AuditEvent.objects.get(pk=event.pk).timestamp == event.timestamp


def test_raw_sql_on_the_partition_itself_is_refused(event):
    partition = next(p.name for p in list_partitions(AuditEvent) if p.day == event.timestamp.date())
    table = sql.SQL(partition)  # regclass text: already quoted where needed
    refused(lambda: execute(sql.SQL("UPDATE {} SET username = 'x'").format(table)))
    refused(lambda: execute(sql.SQL("DELETE FROM {}").format(table)))
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_upsert_cannot_overwrite_an_event(event):
    refused(
        lambda: execute(
            sql.SQL(
                "INSERT INTO {t} SELECT * FROM {t} WHERE id = %s "
                "ON CONFLICT (id, timestamp) DO UPDATE SET username = 'forged'"
            ).format(t=sql.Identifier(AuditEvent._meta.db_table)),
            [event.pk],
        )
    )
    assert AuditEvent.objects.get(pk=event.pk).username == event.username


def test_archive_table_refuses_update_and_delete(article):
    create_day_partitions(ArchivedAuditEvent, FAR_DAY, FAR_DAY)
    archived = ArchivedAuditEvent(content_object=article, timestamp=day_bounds(FAR_DAY)[0])
    archived.save()
    refused(lambda: ArchivedAuditEvent.objects.filter(pk=archived.pk).update(username="x"))
    refused(lambda: ArchivedAuditEvent.objects.filter(pk=archived.pk).delete())
    assert ArchivedAuditEvent.objects.filter(pk=archived.pk).exists()


def test_every_partition_of_both_tables_carries_the_guard():
    create_day_partitions(ArchivedAuditEvent, FAR_DAY, FAR_DAY)
    create_day_partitions(AuditEvent, FAR_DAY, FAR_DAY + datetime.timedelta(days=2))
    assert is_guarded(AuditEvent) and is_guarded(ArchivedAuditEvent)
    for model in (AuditEvent, ArchivedAuditEvent):
        for partition in list_partitions(model):
            assert ROW_TRIGGER in triggers_on(partition.name)


def test_guard_follows_a_partition_through_detach_and_attach(article):
    """The archive move (detach from live, attach to archive) keeps the day guarded.

    PostgreSQL drops a cloned row trigger on DETACH and clones the new parent's
    on ATTACH: this test fails if either stops being true.
    """
    create_day_partitions(AuditEvent, FAR_DAY, FAR_DAY)
    event = AuditEvent(content_object=article, timestamp=day_bounds(FAR_DAY)[0])
    event.save()
    partition = next(p.name for p in list_partitions(AuditEvent) if p.day == FAR_DAY)
    lower, upper = day_bounds(FAR_DAY)
    live, archive = (sql.Identifier(m._meta.db_table) for m in (AuditEvent, ArchivedAuditEvent))
    execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(live, sql.SQL(partition)))
    assert ROW_TRIGGER not in triggers_on(partition)
    execute(
        sql.SQL("ALTER TABLE {} ATTACH PARTITION {} FOR VALUES FROM (%s) TO (%s)").format(
            archive, sql.SQL(partition)
        ),
        [lower, upper],
    )
    assert ROW_TRIGGER in triggers_on(partition)
    refused(lambda: ArchivedAuditEvent.objects.filter(pk=event.pk).update(username="x"))
    refused(lambda: execute(sql.SQL("DELETE FROM {}").format(sql.SQL(partition))))
    assert ArchivedAuditEvent.objects.get(pk=event.pk).object_id == str(article.pk)


def test_lifecycle_ddl_still_works_on_guarded_tables(article):
    """Detach, attach and drop fire no row trigger: rotation and expiry are unaffected."""
    create_day_partitions(ArchivedAuditEvent, FAR_DAY, FAR_DAY)
    ArchivedAuditEvent(content_object=article, timestamp=day_bounds(FAR_DAY)[0]).save()
    partition = next(p.name for p in list_partitions(ArchivedAuditEvent) if p.day == FAR_DAY)
    archive = sql.Identifier(ArchivedAuditEvent._meta.db_table)
    execute(sql.SQL("ALTER TABLE {} DETACH PARTITION {}").format(archive, sql.SQL(partition)))
    execute(sql.SQL("DROP TABLE {}").format(sql.SQL(partition)))
    assert list_partitions(ArchivedAuditEvent) == []


def test_spool_drain_still_works(article):
    """Draining deletes from the spool table, which is not guarded, and inserts the event."""
    forget_partitioned_days()
    event = AuditEvent(content_object=article, timestamp=day_bounds(FAR_DAY)[0])
    event.save()
    with connection.cursor() as cursor:
        cursor.execute(
            sql.SQL("SELECT count(*) FROM {}")
            .format(sql.Identifier(spool_table(AuditEvent)))
            .as_string(connection.connection)
        )
        assert cursor.fetchone()[0] == 1
    create_day_partitions(AuditEvent, FAR_DAY, FAR_DAY)
    assert drain_day(AuditEvent, AuditEvent, FAR_DAY, "default") == 1
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- The maintenance escape hatch -------------------------------------------------


def test_allow_changes_lets_the_table_owner_erase_personal_data(event):
    with allow_changes():
        AuditEvent.objects.filter(pk=event.pk).update(username="", content={"erased": True})
    assert AuditEvent.objects.get(pk=event.pk).content == {"erased": True}


def test_allow_changes_ends_with_its_transaction(event):
    with allow_changes():
        pass
    refused(lambda: AuditEvent.objects.filter(pk=event.pk).update(username="x"))


def test_allow_changes_leaves_model_instances_guarded(event):
    with allow_changes(), pytest.raises(AppendOnlyError):
        event.delete()


def test_setting_the_flag_without_owning_the_table_is_refused(event):
    """Another role setting the flag by hand gets nowhere (see also test_privileges.py)."""
    table = sql.Identifier(AuditEvent._meta.db_table)
    execute(sql.SQL("CREATE ROLE audit_intruder"))
    execute(sql.SQL("GRANT SELECT, UPDATE, DELETE ON {} TO audit_intruder").format(table))

    def intrude():
        execute(sql.SQL("SET LOCAL ROLE audit_intruder"))
        execute(sql.SQL("SET LOCAL audit_events.allow_changes = 'on'"))
        execute(sql.SQL("DELETE FROM {}").format(table))

    refused(intrude)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


def test_a_role_cannot_answer_the_guards_question_with_its_own_functions(event):
    """A pg_has_role of the intruder's own, first on its search_path, changes nothing."""
    table = sql.Identifier(AuditEvent._meta.db_table)
    execute(sql.SQL("CREATE ROLE audit_hijacker"))
    execute(sql.SQL("GRANT SELECT, UPDATE, DELETE ON {} TO audit_hijacker").format(table))
    execute(sql.SQL("CREATE SCHEMA hijack AUTHORIZATION audit_hijacker"))

    def hijack():
        execute(sql.SQL("SET LOCAL ROLE audit_hijacker"))
        execute(
            sql.SQL(
                "CREATE FUNCTION hijack.pg_has_role(name, oid, text) RETURNS boolean "
                "LANGUAGE sql AS 'SELECT true'"
            )
        )
        execute(sql.SQL("SET LOCAL search_path = hijack, pg_catalog, public"))
        execute(sql.SQL("SET LOCAL audit_events.allow_changes = 'on'"))
        execute(sql.SQL("DELETE FROM public.{}").format(table))

    refused(hijack)
    assert AuditEvent.objects.filter(pk=event.pk).exists()


# --- The migration ----------------------------------------------------------------


def test_migration_0002_can_be_reversed_and_reapplied():
    call_command("migrate", "audit_events", "0001", verbosity=0)
    assert not is_guarded(AuditEvent) and not is_guarded(ArchivedAuditEvent)
    call_command("migrate", "audit_events", verbosity=0)
    assert is_guarded(AuditEvent) and is_guarded(ArchivedAuditEvent)


def test_new_partitions_made_by_rotation_are_guarded(article):
    day = timezone.now().date() + datetime.timedelta(days=400)
    create_day_partitions(AuditEvent, day, day)
    event = AuditEvent(content_object=article, timestamp=day_bounds(day)[0])
    event.save()
    refused(lambda: AuditEvent.objects.filter(pk=event.pk).delete())
