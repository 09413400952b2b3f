"""Cursor pagination of events, newest first."""

from __future__ import annotations

from rest_framework.pagination import CursorPagination

__all__ = ["EventCursorPagination"]


class EventCursorPagination(CursorPagination):
    """Pages of events ordered by ``timestamp`` (newest first), ``id`` breaking ties.

    A cursor holds the last timestamp seen, so the next page is a
    ``timestamp < <literal>`` query: it never counts, never uses OFFSET over the
    table, and older partitions are read only as the client pages into them.
    Events sharing a timestamp are told apart by their (time-ordered) id.
    """

    ordering = ("-timestamp", "-id")
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
