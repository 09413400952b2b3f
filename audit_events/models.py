"""Audit event models.

The tables behind these models are range-partitioned by UTC day (see
``audit_events.operations.PartitionByDay`` and docs/storage.md). Django sees
``id`` as the primary key; in PostgreSQL the key is ``(id, timestamp)``
because a partitioned table's unique constraints must include the partition
key. An id is a UUIDv7 of the event's own timestamp, which a CHECK constraint
enforces (``audit_events.ids``): ids are unique across both tables by
construction, and the key's order is time order.
"""

from __future__ import annotations

import contextlib
import datetime
import uuid
from typing import Any

from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.contenttypes.fields import GenericForeignKey
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ImproperlyConfigured
from django.core.signals import setting_changed
from django.db import models
from django.db.models.functions import Cast, TruncDate
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from audit_events.conf import settings
from audit_events.encoding import AuditJSONEncoder, clean_text
from audit_events.exceptions import AppendOnlyError, EventIdMismatch
from audit_events.ids import ProvisionalId, id_matches, uuid7, uuid7_for

__all__ = [
    "AbstractArchivedAuditEvent",
    "AbstractAuditEvent",
    "ArchivedAuditEvent",
    "ArchivedDay",
    "AuditEvent",
    "QuarantinedEvent",
    "SealedDay",
    "get_audit_event_archive_model",
    "get_audit_event_model",
]


class AbstractAuditEvent(models.Model):
    """One explicit audit event about one content object.

    Subclass it to add fields, and point ``AUDIT_EVENT_MODEL`` at the subclass
    (with ``Meta.swappable = "AUDIT_EVENT_MODEL"``); partition its table with
    ``audit_events.operations.PartitionByDay`` in the migration.
    """

    id = models.UUIDField(primary_key=True, default=uuid7, editable=False)
    timestamp = models.DateTimeField(_("timestamp"), default=timezone.now, editable=False)
    # No database FK constraint: an audit row must outlive the user it names, and
    # FKs would complicate detaching and attaching partitions.
    user = models.ForeignKey(
        django_settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        null=True,
        blank=True,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    username = models.CharField(_("username"), max_length=150, blank=True, default="")
    remote_addr = models.GenericIPAddressField(_("remote address"), null=True, blank=True)
    url = models.TextField(_("URL"), blank=True, default="")
    query_params = models.JSONField(
        _("query parameters"), default=dict, blank=True, encoder=AuditJSONEncoder
    )
    post_data = models.JSONField(_("POST data"), default=dict, blank=True, encoder=AuditJSONEncoder)
    headers = models.JSONField(_("headers"), default=dict, blank=True, encoder=AuditJSONEncoder)
    content_type = models.ForeignKey(
        ContentType,
        verbose_name=_("content type"),
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        db_index=False,
        related_name="+",
    )
    # Text holds any primary key: integer, bigint, UUID or string.
    object_id = models.TextField(_("object id"))
    content_object = GenericForeignKey("content_type", "object_id")
    content = models.JSONField(_("content"), default=dict, blank=True, encoder=AuditJSONEncoder)

    class Meta:
        abstract = True
        get_latest_by = "timestamp"
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # The default id was made a moment before the timestamp (default or given):
        # give it the timestamp's time now, so the id is final from here on.
        pk = self.pk
        if type(pk) is ProvisionalId:
            timestamp = self.timestamp
            if isinstance(timestamp, datetime.datetime) and timestamp.tzinfo is not None:
                with contextlib.suppress(ValueError):
                    if not id_matches(pk, timestamp):
                        self.pk = uuid7_for(timestamp, ProvisionalId)

    def __str__(self) -> str:
        return f"{self.content_type_id}:{self.object_id} @ {self.timestamp:%Y-%m-%d %H:%M:%S}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Save a new event; an event whose day has no partition goes to the spool.

        See ``audit_events.spool``: an event is never refused because rotation
        did not create its day's partition.

        Raises:
            AppendOnlyError: the event is already stored (audit events are
                append-only: see ``audit_events.guard``).
            EventIdMismatch: the id was set by hand and is not an id of the
                timestamp (see ``settle_id``).
            ValueError: the timestamp's UTC day is outside 1970-01-01 to 9999-12-30.
        """
        from audit_events.partitions import partition_day
        from audit_events.spool import save_event

        if not self._state.adding:
            raise AppendOnlyError(
                f"Audit event {self.pk} is already stored and cannot be changed: audit events "
                "are append-only. Record a new event instead."
            )
        # PostgreSQL text cannot hold NUL: clean the free-text columns here too, for
        # events whose fields were set by hand rather than by an AuditContext.
        self.url = clean_text(self.url)
        self.username = clean_text(self.username)
        if isinstance(self.timestamp, datetime.datetime) and self.timestamp.tzinfo is not None:
            partition_day(self.timestamp)  # refuses a day no partition can hold
        self.settle_id()
        save_event(self, super().save, *args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        """Refuse: audit events are append-only (the database refuses it too).

        Raises:
            AppendOnlyError: always.
        """
        raise AppendOnlyError(
            f"Audit event {self.pk} cannot be deleted: audit events are append-only. "
            "Old days are archived and expired by rotation (docs/operations.md)."
        )

    @classmethod
    def from_context(cls, context: Any) -> AbstractAuditEvent:
        """An unsaved event of this model with ``context``'s data (django-audit-events' API).

        Same as ``context.new_event()``, for this model rather than ``AUDIT_EVENT_MODEL``.
        """
        template = context.new_event()
        names = ("url", "remote_addr", "query_params", "post_data", "headers", "content")
        return cls(
            user_id=template.user_id,
            username=template.username,
            **{name: getattr(template, name) for name in names},
        )

    def settle_id(self) -> None:
        """Make the id an id of the event's timestamp, before it is written.

        A default id takes the timestamp's time (the timestamp may have been set
        after the event was built); an id set by hand must already match.

        Raises:
            EventIdMismatch: the id was set by hand to the id of another time.
            ValueError: the timestamp is before 1970 (no UUIDv7 can hold it).
        """
        pk, timestamp = self.pk, self.timestamp
        if not isinstance(timestamp, datetime.datetime) or timestamp.tzinfo is None:
            return  # refused later, as before (naive datetimes warn, then fail)
        if pk is None or type(pk) is ProvisionalId:
            if pk is None or not id_matches(pk, timestamp):
                self.pk = uuid7_for(timestamp)
            else:
                self.pk = uuid.UUID(int=pk.int)
            return
        try:
            value = pk if isinstance(pk, uuid.UUID) else uuid.UUID(str(pk))
        except ValueError:
            return  # not a UUID: Django's own conversion reports it
        if not id_matches(value, timestamp):
            raise EventIdMismatch(
                f"Audit event id {value} is not an id of its timestamp {timestamp.isoformat()}: "
                "an event id carries the event's time (UUIDv7). Leave the id unset, or build "
                "it with audit_events.ids.uuid7_for(timestamp)."
            )


class AuditEvent(AbstractAuditEvent):
    """The default, concrete audit event model (swappable: ``AUDIT_EVENT_MODEL``)."""

    class Meta(AbstractAuditEvent.Meta):
        swappable = "AUDIT_EVENT_MODEL"


class ArchivedDay(models.Model):
    """One day moved into an archive table: when, and a digest of its rows.

    The archive time is a property of the whole day (partition), not of each
    row: storing it per row would mean rewriting every row, which is exactly
    what zero-copy archiving avoids. ``ArchivedAuditEvent.archive_timestamp``
    is read from here.
    """

    archive_table = models.CharField(max_length=63)
    day = models.DateField()
    archived_at = models.DateTimeField(default=timezone.now)
    row_count = models.BigIntegerField(null=True, blank=True)
    digest = models.CharField(max_length=64, blank=True, default="")
    #: Set when rotation recorded a day found in the archive without a record
    #: (never the result of a crash: a hand-made ATTACH or a deleted record).
    #: ``verify_archived_days`` keeps reporting such a day as ``"repaired"``.
    repaired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["archive_table", "day"], name="audit_events_archivedday_unique"
            ),
        ]
        ordering = ["archive_table", "day"]

    def __str__(self) -> str:
        return f"{self.archive_table} {self.day:%Y-%m-%d}"


class SealedDay(models.Model):
    """The seal of one closed UTC day of an event table: its row count and digest.

    Rotation seals each day once it is over and ``AUDIT_SEAL_GRACE_HOURS`` have
    passed (see ``audit_events.tamper``); the seal stays with the day when it is
    archived. ``event_table`` is the live table's name (the pair of live and
    archive tables it belongs to); ``hashed_columns`` the columns the digest
    covers, so that a column added later leaves the seal valid.
    """

    event_table = models.CharField(max_length=63)
    day = models.DateField()
    sealed_at = models.DateTimeField(default=timezone.now)
    row_count = models.BigIntegerField()
    digest = models.CharField(max_length=64)
    hashed_columns = models.JSONField(default=list)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["event_table", "day"], name="audit_events_sealedday_unique"
            ),
        ]
        ordering = ["event_table", "day"]

    def __str__(self) -> str:
        return f"{self.event_table} {self.day:%Y-%m-%d}: {self.row_count} rows"


class QuarantinedEvent(models.Model):
    """A spooled row that rotation kept out of history, and why.

    The spool is writable by the application role; a row that does not match
    its own columns, is not a valid event, reuses a stored id or falls on a
    sealed or archived day is moved here instead of into an event table. The
    application role cannot write this table; reported by rotation,
    ``audit_partitions``, ``verify_audit_events`` and check W003.
    """

    event_table = models.CharField(max_length=63)
    event_id = models.TextField()
    timestamp = models.DateTimeField(null=True, blank=True)
    day = models.DateField(null=True, blank=True)
    row = models.JSONField()
    reason = models.TextField()
    spooled_at = models.DateTimeField(null=True, blank=True)
    quarantined_at = models.DateTimeField(default=timezone.now)

    class Meta:
        ordering = ["event_table", "day", "quarantined_at"]

    def __str__(self) -> str:
        return f"{self.event_table} {self.day:%Y-%m-%d} {self.event_id}: {self.reason}"


def archive_timestamp_of_day(model: type[models.Model]) -> models.Subquery:
    """A subquery giving, for each row of archive ``model``, when its day was archived."""
    # The cast gives the outer reference a type, which TruncDate needs to
    # resolve (a bare OuterRef has none); timestamptz to timestamptz is a no-op.
    outer_timestamp = Cast(models.OuterRef("timestamp"), models.DateTimeField())
    return models.Subquery(
        ArchivedDay.objects.filter(
            archive_table=model._meta.db_table,
            day=TruncDate(outer_timestamp, tzinfo=datetime.UTC),
        ).values("archived_at")[:1]
    )


class ArchivedAuditEventQuerySet(models.QuerySet):  # type: ignore[type-arg]
    """Queryset of archived events, each annotated with ``archive_timestamp``."""

    def with_archive_timestamp(self) -> ArchivedAuditEventQuerySet:
        annotated: ArchivedAuditEventQuerySet = self.annotate(
            archive_timestamp=archive_timestamp_of_day(self.model)
        )
        return annotated


class ArchivedAuditEventManager(models.Manager.from_queryset(ArchivedAuditEventQuerySet)):  # type: ignore[misc]
    def get_queryset(self) -> ArchivedAuditEventQuerySet:
        queryset: ArchivedAuditEventQuerySet = super().get_queryset()
        return queryset.with_archive_timestamp()


class AbstractArchivedAuditEvent(AbstractAuditEvent):
    """An audit event in the archive table.

    Has exactly the live table's columns, so a whole day moves between the two
    tables by detaching and attaching its partition. ``archive_timestamp`` is
    the time its day was archived (annotated by the default manager).
    """

    objects = ArchivedAuditEventManager()

    class Meta(AbstractAuditEvent.Meta):
        abstract = True
        verbose_name = _("archived audit event")
        verbose_name_plural = _("archived audit events")


class ArchivedAuditEvent(AbstractArchivedAuditEvent):
    """The default, concrete archive model (swappable: ``AUDIT_EVENT_ARCHIVE_MODEL``)."""

    class Meta(AbstractArchivedAuditEvent.Meta):
        swappable = "AUDIT_EVENT_ARCHIVE_MODEL"


#: Models found by their dotted name, once the app registry is ready (every
#: event looks its model up; a swapped model is another name).
_models_by_name: dict[str, type[models.Model]] = {}


def _get_model(setting_name: str) -> type[models.Model]:
    dotted = getattr(settings, setting_name)
    found = _models_by_name.get(dotted)
    if found is not None:
        return found
    try:
        model = apps.get_model(dotted, require_ready=False)
    except ValueError as exc:
        raise ImproperlyConfigured(
            f"settings.{setting_name} must be of the form 'app_label.ModelName'; got {dotted!r}."
        ) from exc
    except LookupError as exc:
        raise ImproperlyConfigured(
            f"settings.{setting_name} refers to model {dotted!r} that has not been "
            "installed: add its app to INSTALLED_APPS."
        ) from exc
    if apps.ready:
        _models_by_name[dotted] = model
    return model


def _forget_models(*, setting: str, **kwargs: Any) -> None:
    # override_settings(INSTALLED_APPS=...) gives Django another set of models.
    if setting == "INSTALLED_APPS":
        _models_by_name.clear()


setting_changed.connect(_forget_models, dispatch_uid="audit_events.models")


def get_audit_event_model() -> type[AbstractAuditEvent]:
    """Return the active audit event model (``AUDIT_EVENT_MODEL``).

    Raises:
        ImproperlyConfigured: the setting is malformed or names no installed model.
    """
    return _get_model("AUDIT_EVENT_MODEL")  # type: ignore[return-value]


def get_audit_event_archive_model() -> type[AbstractArchivedAuditEvent]:
    """Return the active archive model (``AUDIT_EVENT_ARCHIVE_MODEL``).

    Raises:
        ImproperlyConfigured: the setting is malformed or names no installed model.
    """
    return _get_model("AUDIT_EVENT_ARCHIVE_MODEL")  # type: ignore[return-value]
