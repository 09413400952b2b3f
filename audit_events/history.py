"""The whole history of one object: its live and archived events, newest first, by pages.

``timeline(obj)`` merges the object's events from the live table and the
archive table into one list, newest first, ``limit`` at a time; pass the page's
``next_before`` as ``before`` to get the next (older) page. Each table is read
through its object index, ``(content_type_id, object_id, timestamp)``, in
windows of days that double in length, newest first, until the page is full:
PostgreSQL plans and probes only the day tables of each window. ``before``
bounds the time too (an event id holds its timestamp, see
``audit_events.ids``), so day tables newer than the page are never read. See
docs/performance.md for what a page costs over 1,000 days.
"""

from __future__ import annotations

import datetime
import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, connections, models

from audit_events.ids import timestamp_of
from audit_events.models import get_audit_event_archive_model, get_audit_event_model
from audit_events.readers import events_for_reading

__all__ = ["TimelinePage", "timeline"]

#: The most events one page may hold.
MAX_LIMIT = 1000


@dataclass(frozen=True)
class TimelinePage:
    """One page of an object's history.

    Attributes:
        events: live and archived events (archived ones are instances of the
            archive model, with ``archive_timestamp``), newest first.
        next_before: the id to pass as ``before`` for the next, older page;
            ``None`` on the last page.
    """

    events: list[Any]
    next_before: uuid.UUID | None


def timeline(
    obj: models.Model,
    *,
    before: uuid.UUID | str | None = None,
    limit: int = 100,
    using: str = DEFAULT_DB_ALIAS,
) -> TimelinePage:
    """One page of ``obj``'s events from the live and archive tables, newest first.

    The days are read newest first in windows that double in length (1, 2, 4...
    days) until the page is full or the oldest day table is passed: a page of a
    busy object reads a few days, a rare object's page reads as many days as its
    events are spread over.

    Args:
        obj: a saved model instance.
        before: only events older than the event with this id (the previous
            page's ``next_before``); ``None`` for the newest page.
        limit: events per page, 1 to ``MAX_LIMIT``.
        using: the database alias.

    Returns:
        The page, and where the next one starts.

    Raises:
        ValueError: ``obj`` is not saved, ``limit`` is out of range, or
            ``before`` is not an event id.
    """
    if not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}; got {limit!r}.")
    if not isinstance(obj, models.Model) or obj.pk is None:
        raise ValueError(f"timeline() needs a saved model instance; got {obj!r}.")
    models_ = (get_audit_event_model(), get_audit_event_archive_model())
    span = _day_span(models_, using)
    if span is None:
        return TimelinePage([], None)
    oldest, newest = span
    bound: dict[str, Any] = {}
    upper = newest
    if before is not None:
        when = timestamp_of(before)
        if when is None:
            raise ValueError(f"before must be an event id (a UUIDv7); got {before!r}.")
        # id < before implies timestamp <= its time: day tables after it are pruned.
        bound = {"pk__lt": before}
        upper = min(upper, when + datetime.timedelta(microseconds=1))
    content_type = ContentType.objects.db_manager(using).get_for_model(obj)
    wanted = {"content_type": content_type, "object_id": str(obj.pk), **bound}
    events: list[Any] = []
    window = datetime.timedelta(days=1)
    while len(events) <= limit and upper > oldest:
        lower = max(upper - window, oldest)
        found: list[Any] = []
        for model in models_:
            queryset = (
                events_for_reading(model)
                .using(using)
                .filter(timestamp__gte=lower, timestamp__lt=upper, **wanted)
                .order_by("-timestamp", "-pk")
            )
            found += queryset[: limit + 1 - len(events)]
        found.sort(key=lambda event: event.pk, reverse=True)
        events += found
        upper, window = lower, window * 2
    page = events[:limit]
    more = len(events) > limit
    return TimelinePage(page, page[-1].pk if more else None)


def _day_span(
    event_models: tuple[type[models.Model], ...], using: str
) -> tuple[datetime.datetime, datetime.datetime] | None:
    """From the start of the oldest to the end of the newest day table of the tables."""
    connection = connections[using]
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT min(b.lower_bound), max(b.upper_bound) FROM pg_inherits AS i, "
            "audit_events_partition_bounds(i.inhrelid::regclass) AS b "
            "WHERE i.inhparent = ANY(%s::regclass[])",
            [[str(connection.ops.quote_name(m._meta.db_table)) for m in event_models]],
        )
        oldest, newest = cursor.fetchone()
    return None if oldest is None else (oldest, newest)
