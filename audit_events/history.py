"""The whole history of one object: its live and archived events, newest first, by pages.

``timeline(obj)`` merges the object's events from the live table and the
archive table into one list, newest first, ``limit`` at a time; pass the page's
``next_before`` as ``before`` to get the next (older) page. Each table is read
through its object index, ``(content_type_id, object_id, timestamp)``, one
index probe per day table; ``before`` bounds the time too (an event id holds
its timestamp, see ``audit_events.ids``), so PostgreSQL skips every day table
newer than the page. See docs/performance.md for what a page costs over
1,000 days.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db import DEFAULT_DB_ALIAS, models

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
    bound: dict[str, Any] = {}
    if before is not None:
        when = timestamp_of(before)
        if when is None:
            raise ValueError(f"before must be an event id (a UUIDv7); got {before!r}.")
        # id < before implies timestamp <= its time: day tables after it are pruned.
        bound = {"pk__lt": before, "timestamp__lte": when}
    content_type = ContentType.objects.db_manager(using).get_for_model(obj)
    events: list[Any] = []
    for model in (get_audit_event_model(), get_audit_event_archive_model()):
        queryset = (
            events_for_reading(model)
            .using(using)
            .filter(content_type=content_type, object_id=str(obj.pk), **bound)
            .order_by("-timestamp", "-pk")
        )
        events += queryset[: limit + 1]
    events.sort(key=lambda event: event.pk, reverse=True)
    page = events[:limit]
    more = len(events) > limit
    return TimelinePage(page, page[-1].pk if more else None)
