"""The changelist parameters the event admins accept, checked before any query.

Django's admin lets any lookup on a local column through ``lookup_allowed``
(``url__regex``, ``post_data__password``, ``timestamp__month``), and its date
drill-down turns ``?timestamp__year=9999`` into a date past year 9999 (a
500). Here every parameter must be one the page offers, its value must hold no
NUL character (PostgreSQL text cannot, and refuses the query), and the date
parameters must name a year, month or day from year 1 to 9998 with the
coarser parts present. Anything else raises ``IncorrectLookupParameters``:
Django's own "invalid filter" handling, which redirects to ``?e=1`` without
querying the table.
"""

from __future__ import annotations

import datetime
from collections.abc import Collection, Mapping
from typing import Any

from django.contrib.admin.options import IncorrectLookupParameters

__all__ = ["check_date_params", "check_lookup"]

# Django's drill-down computes the end of the chosen year, month or day: the
# last one whose end is still a Python date is in year 9998.
_LAST_YEAR = datetime.MAXYEAR - 1


def check_lookup(lookup: str, value: Any, offered: Collection[str]) -> None:
    """Refuse a parameter the changelist does not offer, or a value with a NUL.

    Raises:
        IncorrectLookupParameters: the lookup is not offered or the value is unusable.
    """
    if lookup not in offered:
        raise IncorrectLookupParameters(f"filtering by {lookup!r} is not offered")
    if "\x00" in str(value):
        raise IncorrectLookupParameters(f"{lookup}: a value must not contain a NUL character")


def check_date_params(params: Mapping[str, list[str]], field: str) -> None:
    """Refuse date drill-down parameters Django would turn into an error or a full scan.

    ``<field>__month`` without ``__year`` (or ``__day`` without ``__month``)
    would be an ``EXTRACT`` over every partition; a year past 9998 makes
    Django compute a date past 9999.

    Args:
        params: the request's query parameters (lists of values).
        field: the ``date_hierarchy`` field.

    Raises:
        IncorrectLookupParameters: the parameters name no usable date range.
    """
    year, month, day = (_last(params, f"{field}__{part}") for part in ("year", "month", "day"))
    if (month is not None and year is None) or (day is not None and month is None):
        raise IncorrectLookupParameters(f"{field}: a month needs a year, a day needs a month")
    if year is None:
        return
    try:
        numbers = [int(part) for part in (year, month or "1", day or "1")]
        if not 1 <= numbers[0] <= _LAST_YEAR:
            raise ValueError(f"year {numbers[0]} is not from 1 to {_LAST_YEAR}")
        datetime.date(*numbers)
    except (ValueError, OverflowError) as exc:
        raise IncorrectLookupParameters(f"{field}: {exc}") from exc


def _last(params: Mapping[str, list[str]], key: str) -> str | None:
    values = params.get(key)
    if isinstance(values, list | tuple):
        return values[-1] if values else None
    return values
