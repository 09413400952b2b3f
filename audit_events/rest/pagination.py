"""Cursor pagination of events, newest first, in primary-key order."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet
from rest_framework.pagination import CursorPagination
from rest_framework.request import Request

from audit_events.ids import timestamp_of

__all__ = ["EventCursorPagination"]


class EventCursorPagination(CursorPagination):
    """Pages of events ordered by ``id``, newest first.

    An id holds its event's timestamp (``audit_events.ids``), so id order is
    time order: a page is a backward scan of each day table's primary key, with
    no sort and no second index, however big the day. A cursor holds the last
    id seen; the next page is ``id < <id>`` and also ``timestamp <= <its time>``,
    so day tables newer than the cursor are not read at all. It never counts
    and never uses OFFSET over the table.
    """

    ordering = ("-id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        cursor = self.decode_cursor(request)
        when = timestamp_of(cursor.position) if cursor and cursor.position else None
        if when is not None:
            # Forward pages hold older ids (ordering is -id), previous pages newer ones.
            bound = "timestamp__gte" if cursor.reverse else "timestamp__lte"
            queryset = queryset.filter(**{bound: when})
        page: list[Any] | None = super().paginate_queryset(queryset, request, view)
        return page
