"""Date drill-down (year, month, day) read from the partition catalog.

Django's ``date_hierarchy`` tag finds its years, months and days with
``MIN``/``MAX`` and ``SELECT DISTINCT date_trunc(...)`` over the filtered
table: a full scan of millions of rows on every page. The days of a
day-partitioned table are already in the catalog, one partition per UTC day,
so the drill-down lists them from there. The links use Django's own
``timestamp__year/__month/__day`` parameters, which the changelist turns into
``timestamp >= start AND timestamp < end`` with literal bounds: PostgreSQL
prunes every partition outside the chosen day (or month, or year).
"""

from __future__ import annotations

import datetime
from collections.abc import Callable, Sequence
from typing import Any

from django.db.models import Model
from django.utils import formats
from django.utils.text import capfirst
from django.utils.translation import gettext as _

from audit_events.partitions import list_partitions, utc_today

__all__ = ["DayDrilldown", "partition_days"]

_FIELD = "timestamp"
YEAR, MONTH, DAY = f"{_FIELD}__year", f"{_FIELD}__month", f"{_FIELD}__day"


def partition_days(model: type[Model], using: str) -> list[datetime.date]:
    """The UTC days that have an attached partition, up to today, oldest first.

    Partitions made ahead for future days hold no events yet and are left out.
    """
    today = utc_today()
    return [p.day for p in list_partitions(model, using) if not p.detach_pending and p.day <= today]


class DayDrilldown:
    """The context of ``admin/date_hierarchy.html`` for one changelist.

    Args:
        days: the days that can be chosen (see ``partition_days``).
        params: the changelist's current parameters (lists of values).
        link: builds a changelist URL from new date parameters (the other
            filters are kept, the old date parameters dropped).
    """

    def __init__(
        self,
        days: Sequence[datetime.date],
        params: dict[str, Any],
        link: Callable[[dict[str, Any]], str],
    ) -> None:
        self.days = list(days)
        self.year, self.month, self.day = (_int_param(params, key) for key in (YEAR, MONTH, DAY))
        self.link = link
        self.show = bool(self.days) or self.year is not None

    @property
    def back(self) -> dict[str, str] | None:
        if self.day is not None and self.month is not None and self.year is not None:
            month = datetime.date(self.year, self.month, 1)
            return {
                "link": self.link({YEAR: self.year, MONTH: self.month}),
                "title": capfirst(formats.date_format(month, "YEAR_MONTH_FORMAT")),
            }
        if self.month is not None and self.year is not None:
            return {"link": self.link({YEAR: self.year}), "title": str(self.year)}
        if self.year is not None:
            return {"link": self.link({}), "title": _("All dates")}
        return None

    @property
    def choices(self) -> list[dict[str, str]]:
        if self.year is None:
            return self._choices(
                sorted({d.year for d in self.days}), lambda y: {YEAR: y}, lambda y: str(y)
            )
        if self.month is None:
            months = sorted({d.replace(day=1) for d in self.days if d.year == self.year})
            return self._choices(
                months,
                lambda m: {YEAR: m.year, MONTH: m.month},
                lambda m: formats.date_format(m, "YEAR_MONTH_FORMAT"),
            )
        if self.day is None:
            days = [d for d in self.days if (d.year, d.month) == (self.year, self.month)]
            return self._choices(
                days,
                lambda d: {YEAR: d.year, MONTH: d.month, DAY: d.day},
                lambda d: formats.date_format(d, "MONTH_DAY_FORMAT"),
            )
        chosen = datetime.date(self.year, self.month, self.day)
        return [{"title": capfirst(formats.date_format(chosen, "MONTH_DAY_FORMAT"))}]

    def _choices(
        self,
        values: Sequence[Any],
        params: Callable[[Any], dict[str, Any]],
        title: Callable[[Any], str],
    ) -> list[dict[str, str]]:
        return [{"link": self.link(params(v)), "title": capfirst(title(v))} for v in values]


def _int_param(params: dict[str, Any], key: str) -> int | None:
    value = params.get(key)
    if isinstance(value, list):
        value = value[-1] if value else None
    try:
        return int(value) if value is not None else None
    except (TypeError, ValueError):
        return None
