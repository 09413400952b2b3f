"""Cursor pagination of events, newest first, in primary-key order."""

from __future__ import annotations

from typing import Any, NoReturn

from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import DateTimeField, Model, QuerySet
from rest_framework.exceptions import NotFound, ValidationError
from rest_framework.pagination import Cursor, CursorPagination
from rest_framework.request import Request

from audit_events.ids import timestamp_of
from audit_events.rest.filters import parse_moment

__all__ = ["EventCursorPagination"]


class EventCursorPagination(CursorPagination):
    """Pages of events ordered by ``id``, newest first.

    An id holds its event's timestamp (``audit_events.ids``), so id order is
    time order: a page is a backward scan of each day table's primary key, with
    no sort and no second index, however big the day. A cursor holds the last
    id seen; the next page is ``id < <id>`` and also ``timestamp <= <its time>``,
    so day tables newer than the cursor are not read at all. It never counts
    and never uses OFFSET over the table.

    A cursor is client input like any parameter: one that does not decode, or
    whose position is not a value of the ordering column, is answered with
    HTTP 400 keyed ``cursor``; a ``page_size`` that is not a whole number from 1
    to ``max_page_size`` with 400 keyed ``page_size``.
    """

    ordering = ("-id",)
    page_size = 100
    page_size_query_param = "page_size"
    max_page_size = 1000
    _model: type[Model] | None = None

    def paginate_queryset(
        self, queryset: QuerySet[Any], request: Request, view: Any = None
    ) -> list[Any] | None:
        self._model = queryset.model
        cursor = self.decode_cursor(request)
        when = timestamp_of(cursor.position) if cursor and cursor.position else None
        if cursor is not None and when is not None:
            # Forward pages hold older ids (ordering is -id), previous pages newer ones.
            bound = "timestamp__gte" if cursor.reverse else "timestamp__lte"
            queryset = queryset.filter(**{bound: when})
        page: list[Any] | None = super().paginate_queryset(queryset, request, view)
        return page

    def get_page_size(self, request: Any) -> int:
        value = request.query_params.get(self.page_size_query_param)
        if value in (None, ""):
            return self.page_size
        if not (value.isascii() and value.isdigit() and 1 <= int(value) <= self.max_page_size):
            raise ValidationError(
                {
                    self.page_size_query_param: [
                        f"{value!r} is not a whole number from 1 to {self.max_page_size}."
                    ]
                }
            )
        return int(value)

    def decode_cursor(self, request: Any) -> Cursor | None:
        try:
            cursor = super().decode_cursor(request)
        except NotFound:
            _bad_cursor()
        if cursor is None or cursor.position is None or self._model is None:
            return cursor
        return cursor._replace(position=self._clean_position(cursor.position))

    def _clean_position(self, position: str) -> str:
        """The cursor's position checked against the ordering column, as the query will use it."""
        assert self._model is not None
        field: Any = self._model._meta.get_field(self.ordering[0].lstrip("-"))
        if "\x00" in position:
            _bad_cursor()
        if isinstance(field, DateTimeField):
            # Offsets PostgreSQL refuses (beyond ±15:59) are converted to UTC here.
            moment = parse_moment(position)
            if moment is None:
                _bad_cursor()
            return moment.isoformat()
        try:
            return str(field.to_python(position))
        except DjangoValidationError:
            _bad_cursor()

    def get_schema_operation_parameters(self, view: Any) -> list[dict[str, Any]]:
        parameters: list[dict[str, Any]] = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            if parameter["name"] == self.page_size_query_param:
                parameter["schema"].update(minimum=1, maximum=self.max_page_size)
        return parameters


def _bad_cursor() -> NoReturn:
    raise ValidationError({"cursor": ["Invalid cursor: follow the next and previous links."]})
