"""Changelist filters on the indexed columns of the event tables only.

The event tables have B-tree indexes on ``(user_id, timestamp)`` and
``(content_type_id, object_id, timestamp)`` in every partition, and the
timestamp prunes partitions. A filter on any other column would read whole
partitions, so the admin offers exactly these: content type (a short list),
user id and object id (typed in, never a list of every user or object).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.core.exceptions import ValidationError
from django.db.models import Model, QuerySet
from django.http import HttpRequest
from django.utils.translation import gettext_lazy as _

__all__ = ["ObjectIdFilter", "UserIdFilter"]

_CONTENT_TYPE_PARAM = "content_type__id__exact"


class _InputFilter(admin.ListFilter):
    """A filter whose value is typed into a small form instead of picked from a list."""

    template = "admin/audit_events/input_filter.html"
    parameter_name = ""

    def __init__(
        self,
        request: HttpRequest,
        params: dict[str, Any],
        model: type[Model],
        model_admin: admin.ModelAdmin[Any],
    ) -> None:
        super().__init__(request, params, model, model_admin)
        value = params.pop(self.parameter_name, None)
        # Django 5 passes lists of values; the last one wins like in its own filters.
        self.value = (value[-1] if isinstance(value, list) else value) or None
        self.request = request

    def has_output(self) -> bool:
        return True

    def expected_parameters(self) -> list[str | None]:
        return [self.parameter_name]

    def choices(self, changelist: Any) -> Iterator[Mapping[str, object]]:
        # Read by the template: the current value, and the other parameters
        # (filters, ordering) so that submitting the box keeps them.
        keep = [
            (key, value) for key, value in changelist.params.items() if key != self.parameter_name
        ]
        yield {
            "parameter_name": self.parameter_name,
            "value": self.value or "",
            "keep": keep,
            "clear_link": changelist.get_query_string(remove=[self.parameter_name]),
        }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value is None:
            return queryset
        return queryset.filter(**{self.lookup: self.clean(queryset.model, self.value)})

    lookup = ""

    def clean(self, model: type[Model], value: str) -> Any:
        """The typed value converted for the lookup.

        Raises:
            IncorrectLookupParameters: the value is not valid for the column.
        """
        return value


class UserIdFilter(_InputFilter):
    """Events of one user, by user id (index ``(user_id, timestamp)``)."""

    title = _("user id")
    parameter_name = "user_id"
    lookup = "user_id"

    def clean(self, model: type[Model], value: str) -> Any:
        user_pk = model._meta.get_field("user").target_field  # type: ignore[union-attr]
        try:
            user_id = user_pk.to_python(value)
            user_pk.run_validators(user_id)
        except ValidationError as exc:
            raise IncorrectLookupParameters(f"user_id: {value!r} is not a valid user id") from exc
        return user_id


class ObjectIdFilter(_InputFilter):
    """Events of one object id; shown once a content type is chosen.

    The index is ``(content_type_id, object_id, timestamp)``: an object id
    without its content type cannot use it, so the box appears only after the
    content type filter is set.
    """

    title = _("object id")
    parameter_name = "object_id"
    lookup = "object_id"

    def has_output(self) -> bool:
        return _CONTENT_TYPE_PARAM in self.request.GET or self.value is not None

    def clean(self, model: type[Model], value: str) -> Any:
        # Without the content type no index serves the lookup: every partition is read whole.
        if not self.request.GET.get(_CONTENT_TYPE_PARAM):
            raise IncorrectLookupParameters("object_id: choose a content type first")
        return value
