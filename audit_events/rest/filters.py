"""Query parameters of the event list: user, content type, object and time range.

Every filter maps onto an index of the event tables, and ``since``/``until``
become ``timestamp >= since AND timestamp < until`` with the values computed
here, in Python: PostgreSQL then prunes every partition outside the range
when it plans the query (an expression such as ``now() - interval '1 day'``
would defeat plan-time pruning). A value that cannot be used is answered
with HTTP 400 naming the parameter.
"""

from __future__ import annotations

import datetime
import re
from collections.abc import Mapping
from typing import Any, NoReturn

from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import QuerySet
from django.utils.dateparse import parse_date, parse_datetime
from rest_framework.exceptions import ValidationError

__all__ = ["FILTER_PARAMETERS", "filter_events"]

_ID = re.compile(r"[1-9][0-9]{0,9}", re.ASCII)

#: The query parameters the list understands (others, such as ``cursor``, are paging).
FILTER_PARAMETERS = ("user", "content_type", "object_id", "since", "until")


def filter_events(queryset: QuerySet[Any], params: Mapping[str, str]) -> QuerySet[Any]:
    """Apply the list's filters to ``queryset``.

    Args:
        queryset: events of the live or archive model.
        params: the request's query parameters.

    Returns:
        The filtered queryset.

    Raises:
        rest_framework.exceptions.ValidationError: a value is invalid (HTTP 400);
            the error is keyed by the parameter's name.
    """
    refuse_nul(params)
    lookups: dict[str, Any] = {}
    if params.get("user"):
        lookups["user_id"] = _user_id(queryset, params["user"])
    if params.get("content_type"):
        lookups["content_type_id"] = _content_type_id(params["content_type"])
    if params.get("object_id"):
        if "content_type_id" not in lookups:
            _fail("object_id", "needs content_type too: object ids are unique per content type.")
        lookups["object_id"] = params["object_id"]
    since, until = _moment(params, "since"), _moment(params, "until")
    if since is not None and until is not None and since >= until:
        _fail("until", f"must be later than since ({since.isoformat()}).")
    if since is not None:
        lookups["timestamp__gte"] = since
    if until is not None:
        lookups["timestamp__lt"] = until
    return queryset.filter(**lookups)


def refuse_nul(params: Mapping[str, str]) -> None:
    """Refuse a NUL character in any parameter's name or value (PostgreSQL text cannot hold one).

    Raises:
        rest_framework.exceptions.ValidationError: keyed by the parameter (HTTP 400).
    """
    for name in params:
        values = params.getlist(name) if hasattr(params, "getlist") else [params[name]]
        if "\x00" in name or any("\x00" in value for value in values):
            _fail(name.replace("\x00", "\\x00"), "must not contain a NUL character.")


def _fail(parameter: str, message: str) -> NoReturn:
    raise ValidationError({parameter: [message]})


def _user_id(queryset: QuerySet[Any], value: str) -> Any:
    user_pk = queryset.model._meta.get_field("user").target_field
    try:
        user_id = user_pk.to_python(value)
        # A number beyond the column's range is no user (and not worth a query).
        user_pk.run_validators(user_id)
    except DjangoValidationError:
        _fail("user", f"{value!r} is not a valid user id.")
    return user_id


def _content_type_id(value: str) -> int:
    """A content type given as its id or as ``app_label.model``."""
    try:
        # isdigit() is also true of "²" and other digits int() refuses: ASCII only.
        if _ID.fullmatch(value):
            return ContentType.objects.get_for_id(int(value)).pk
        app_label, _, model = value.partition(".")
        return ContentType.objects.get_by_natural_key(app_label, model.lower()).pk
    except ContentType.DoesNotExist:
        _fail("content_type", f"{value!r} is not a content type id or 'app_label.model' name.")


def _moment(params: Mapping[str, str], name: str) -> datetime.datetime | None:
    """An ISO 8601 datetime or date; naive values and dates are taken as UTC."""
    value = params.get(name)
    if not value:
        return None
    moment = parse_moment(value)
    if moment is None:
        _fail(
            name,
            f"{value!r} is not an ISO 8601 date or datetime from year 1 to 9999 (e.g. "
            "2024-05-01 or 2024-05-01T12:00:00Z; write '+' in an offset as %2B).",
        )
    return moment


def parse_moment(value: str) -> datetime.datetime | None:
    """``value`` as an aware datetime in UTC, or ``None`` when it is not one.

    Converted to UTC here: PostgreSQL refuses offsets beyond ±15:59 that Python
    accepts (up to ±23:59), and a moment that leaves years 1-9999 once in UTC
    is refused rather than sent.
    """
    try:
        moment = parse_datetime(value)
        if moment is None and (day := parse_date(value)) is not None:
            moment = datetime.datetime.combine(day, datetime.time.min)
        if moment is None:
            return None
        if moment.tzinfo is None:
            return moment.replace(tzinfo=datetime.UTC)
        return moment.astimezone(datetime.UTC)
    except (ValueError, OverflowError):
        return None
