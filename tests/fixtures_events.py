"""Helpers that fill the event tables for admin, API and browser tests."""

from __future__ import annotations

import datetime
from collections.abc import Sequence
from typing import Any

from django.contrib.contenttypes.models import ContentType
from django.db.models import Model

from audit_events.models import ArchivedDay, get_audit_event_archive_model, get_audit_event_model
from audit_events.partitions import create_day_partitions, day_bounds


def make_events(
    days: Sequence[datetime.date],
    per_day: int,
    obj: Model,
    *,
    user: Any = None,
    archived: bool = False,
    **fields: Any,
) -> list[Any]:
    """Insert ``per_day`` events about ``obj`` on each day (partitions created as needed)."""
    model = get_audit_event_archive_model() if archived else get_audit_event_model()
    create_day_partitions(model, min(days), max(days))
    content_type = ContentType.objects.get_for_model(obj)
    events = []
    for day in days:
        start, _ = day_bounds(day)
        step = datetime.timedelta(seconds=86_000 / max(per_day, 1))
        events += [
            model(
                timestamp=start + i * step,
                content_type=content_type,
                object_id=str(obj.pk),
                user=user,
                username=getattr(user, "username", ""),
                url=f"/things/{i}",
                **fields,
            )
            for i in range(per_day)
        ]
        if archived:
            ArchivedDay.objects.get_or_create(archive_table=model._meta.db_table, day=day)
    # _base_manager: the archive's default manager annotates, which bulk_create does not need.
    return model._base_manager.bulk_create(events, batch_size=2000)


def past_days(count: int, *, end: datetime.date) -> list[datetime.date]:
    """``count`` consecutive days ending with ``end``, oldest first."""
    return [end - datetime.timedelta(days=offset) for offset in range(count - 1, -1, -1)]
