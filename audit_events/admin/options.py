"""Read-only ModelAdmins for the partitioned event tables.

What keeps them fast at millions of rows:

* the changelist opens on the newest day, and the date drill-down (built from
  the partition catalog, see ``dates``) filters with literal bounds, so
  PostgreSQL reads one partition;
* counts are exact only up to a small limit, estimated above it
  (``EstimatedCountPaginator``, ``show_full_result_count = False``);
* filters exist only for indexed columns (``filters``);
* each row shows the username snapshot and the content type (joined), and links
  the content object by type and id without loading it: a page costs a fixed
  number of queries, whatever its size.

Nobody, superusers included, can add, change or delete events here.
"""

from __future__ import annotations

import datetime
import json
from collections.abc import Callable
from typing import Any, ClassVar
from urllib.parse import urlencode

from django.contrib import admin, messages
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import quote
from django.contrib.admin.views.main import (
    ERROR_FLAG,
    IGNORED_PARAMS,
    ORDER_VAR,
    PAGE_VAR,
    ChangeList,
)
from django.contrib.contenttypes.models import ContentType
from django.core.exceptions import PermissionDenied
from django.db import OperationalError
from django.db.models import Model, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.html import format_html
from django.utils.safestring import SafeString
from django.utils.translation import gettext_lazy as _

from audit_events.admin.dates import DAY, MONTH, YEAR, DayDrilldown, partition_days
from audit_events.admin.filters import ObjectIdFilter, UserIdFilter
from audit_events.admin.lookups import check_date_params, check_lookup
from audit_events.admin.paginator import EstimatedCountPaginator
from audit_events.encoding import AuditJSONEncoder
from audit_events.ids import timestamp_of
from audit_events.limits import is_query_canceled, statement_timeout
from audit_events.partitions import day_bounds, utc_today
from audit_events.readers import events_for_reading

__all__ = [
    "ArchivedAuditEventAdmin",
    "ArchivedDayAdmin",
    "AuditEventAdmin",
    "AuditEventsLinkMixin",
    "audit_events_url",
]

_CONTENT_TYPE_PARAM = "content_type__id__exact"
_JSON_FIELDS = ("query_params", "post_data", "headers", "content")
#: Changelist parameters that are not filters (ordering, page, search, popup, error flag).
_NOT_FILTERS = (*IGNORED_PARAMS, PAGE_VAR, ERROR_FLAG)
# Parameters that narrow the list enough to skip the default day: a date, or an
# indexed user / object lookup (ordered per partition by the index itself).
_NARROWING_PARAMS = ("timestamp__", UserIdFilter.parameter_name, ObjectIdFilter.parameter_name)
# Time order is id order (an id holds its timestamp): the primary key sorts.
_BY_ID = {"timestamp": "id", "-timestamp": "-id", "pk": "id", "-pk": "-id"}


class ReadOnlyAdminMixin:
    """No add, change or delete permission for anyone, and no bulk actions.

    Only the parameters in ``offered_lookups`` are accepted on the changelist
    (see ``lookups``), and a user without the view permission is refused before
    any query on the model's table: the answer is the same whether the
    requested object exists or not.
    """

    actions: Any = None
    #: The changelist's filter parameters; any other is an invalid filter.
    offered_lookups: ClassVar[tuple[str, ...]] = ()
    model: Any
    admin_site: Any

    def lookup_allowed(self, lookup: str, value: Any, request: HttpRequest) -> bool:
        check_lookup(lookup, value, self.offered_lookups)
        return True

    def get_changelist_instance(self, request: HttpRequest) -> Any:
        # Called by changelist_view inside its IncorrectLookupParameters handler.
        date_field = getattr(self, "date_hierarchy", None)
        if date_field:
            check_date_params(dict(request.GET.lists()), date_field)
        return super().get_changelist_instance(request)  # type: ignore[misc]

    def _refuse_without_view_permission(self, request: HttpRequest) -> None:
        if not self.has_view_or_change_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        self._refuse_without_view_permission(request)
        return super().change_view(request, object_id, *args, **kwargs)  # type: ignore[misc]

    def history_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        self._refuse_without_view_permission(request)
        return super().history_view(request, object_id, *args, **kwargs)  # type: ignore[misc]

    def delete_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        raise PermissionDenied

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class PartitionedChangeList(ChangeList):
    """A changelist whose date drill-down comes from the partition catalog.

    Sorting by time is sorting by id: an id holds its event's timestamp
    (``audit_events.ids``), so the primary key gives the order without a sort
    or a second index. Sorting is offered on ``sortable_by`` only: ``?o=<n>``
    naming another column is ignored (it would sort whole partitions).
    """

    def get_ordering_field(self, field_name: Any) -> Any:
        if self.sortable_by is not None and field_name not in self.sortable_by:
            return None
        return super().get_ordering_field(field_name)

    def __init__(self, request: HttpRequest, *args: Any, **kwargs: Any) -> None:
        super().__init__(request, *args, **kwargs)
        self.day_drilldown = DayDrilldown(
            partition_days(self.model, self.queryset.db),
            self.params,
            lambda params: self.get_query_string(params, ["timestamp__"]),
        )

    def get_ordering(self, request: HttpRequest, queryset: QuerySet[Any]) -> list[Any]:
        ordering = []
        for field in super().get_ordering(request, queryset):
            field = _BY_ID.get(field, field) if isinstance(field, str) else field
            if field not in ordering:
                ordering.append(field)
        return ordering

    def get_queryset(self, request: HttpRequest, exclude_parameters: Any = None) -> QuerySet[Any]:
        # The list shows no JSON column: not reading them spares the TOAST lookups
        # of large request bodies and headers.
        queryset = super().get_queryset(request, exclude_parameters)
        return queryset.defer(*_JSON_FIELDS)


class AuditEventAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only admin of the live events (``AUDIT_EVENT_MODEL``)."""

    change_list_template = "admin/audit_events/change_list.html"
    date_hierarchy = "timestamp"
    list_display = (
        "timestamp",
        "user_display",
        "content_type",
        "object_display",
        "url",
        "remote_addr",
    )
    list_filter = ("content_type", UserIdFilter, ObjectIdFilter)
    offered_lookups = (
        _CONTENT_TYPE_PARAM,
        UserIdFilter.parameter_name,
        ObjectIdFilter.parameter_name,
        YEAR,
        MONTH,
        DAY,
    )
    list_select_related = ("content_type",)
    # Newest first, by the primary key (an id holds its timestamp): a day's page
    # is a backward scan of the key's index, however big the day.
    ordering = ("-id",)
    # Sorting on any other column would sort whole partitions.
    sortable_by = ("timestamp",)
    paginator = EstimatedCountPaginator
    show_full_result_count = False
    show_facets = admin.ShowFacets.NEVER
    #: How many of the newest days the default view looks through for events.
    default_day_lookback = 31
    #: Time limit of each query of a changelist or detail page (``statement_timeout``);
    #: the views across all days (one user's or object's events) are bounded by it.
    statement_timeout_ms = 10_000
    fields: ClassVar[Any] = (
        "timestamp",
        "user_id_display",
        "username",
        "remote_addr",
        "url",
        "content_type",
        "content_object_display",
        "query_params_display",
        "post_data_display",
        "headers_display",
        "content_display",
    )

    def get_queryset(self, request: HttpRequest) -> QuerySet[Any]:
        # Not the default manager: see audit_events.readers (archive_timestamp).
        queryset = events_for_reading(self.model)
        ordering = self.get_ordering(request)
        return queryset.order_by(*ordering) if ordering else queryset

    def get_object(
        self, request: HttpRequest, object_id: str, from_field: str | None = None
    ) -> Any:
        """The event, looked up in the one day table its id's time falls in."""
        when = timestamp_of(object_id)
        if when is None or from_field not in (None, "id"):
            return None  # no event has an id that is not a UUIDv7
        return self.get_queryset(request).filter(pk=object_id, timestamp=when).first()

    def get_changelist(self, request: HttpRequest, **kwargs: Any) -> type[ChangeList]:
        return PartitionedChangeList

    def changelist_view(
        self, request: HttpRequest, extra_context: dict[str, Any] | None = None
    ) -> HttpResponse:
        """Open on the newest day when nothing narrows the list.

        Without a date, user or object filter the list would be every row of
        every partition, sorted: the page redirects to the newest day instead
        (the drill-down leads to the others). So does ``?e=1``, where Django
        sends an invalid filter, with a message saying the filter was refused.
        Every query of the page runs under ``statement_timeout_ms``.
        """
        self._refuse_without_view_permission(request)
        redirect = self._default_day_redirect(request)
        if redirect is not None:
            return redirect
        return self._bounded(
            request, lambda: super(AuditEventAdmin, self).changelist_view(request, extra_context)
        )

    def change_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        self._refuse_without_view_permission(request)
        return self._bounded(
            request,
            lambda: super(AuditEventAdmin, self).change_view(request, object_id, *args, **kwargs),
        )

    def history_view(self, request: HttpRequest, object_id: str, *args: Any, **kwargs: Any) -> Any:
        self._refuse_without_view_permission(request)
        return self._bounded(
            request,
            lambda: super(AuditEventAdmin, self).history_view(request, object_id, *args, **kwargs),
        )

    def _bounded(self, request: HttpRequest, view: Callable[[], HttpResponse]) -> HttpResponse:
        """The response of ``view``, rendered with every query under ``statement_timeout_ms``.

        A query stopped by the limit is answered with a page asking for a
        narrower filter (HTTP 503), not a server error.
        """
        try:
            with statement_timeout(events_for_reading(self.model).db, self.statement_timeout_ms):
                response = view()
                if isinstance(response, TemplateResponse):
                    # Rendering runs the page's query: inside the limit.
                    response.render()
        except OperationalError as exc:
            if not is_query_canceled(exc):
                raise
            context = {
                **self.admin_site.each_context(request),
                "title": _("The query took too long"),
                "opts": self.model._meta,
            }
            return TemplateResponse(
                request, "admin/audit_events/query_timeout.html", context, status=503
            )
        return response

    def _default_day_redirect(self, request: HttpRequest) -> HttpResponse | None:
        # Any method: a POST (there are no actions) would otherwise list every partition.
        refused = ERROR_FLAG in request.GET
        if not refused and not self._acceptable(request):
            return None  # Django's handling of an invalid filter: a redirect to ?e=1
        if not refused and any(
            key.startswith(_NARROWING_PARAMS) and value for key, value in request.GET.items()
        ):
            return None
        if refused:
            messages.warning(
                request,
                _("That filter is not offered or its value is invalid: showing the newest day."),
                fail_silently=True,
            )
        newest = self._newest_day_with_events(request) or utc_today()
        # After a refused filter only the ordering is kept: the rest may be what was refused.
        kept = (ORDER_VAR,) if refused else (*self.offered_lookups, ORDER_VAR)
        params = {
            **{k: v for k, v in request.GET.dict().items() if k in kept},
            YEAR: newest.year,
            MONTH: newest.month,
            DAY: newest.day,
        }
        return HttpResponseRedirect(f"{request.path}?{urlencode(params)}")

    def _acceptable(self, request: HttpRequest) -> bool:
        """Whether every parameter is an offered filter with a usable value (no query)."""
        try:
            for key, values in request.GET.lists():
                if key not in _NOT_FILTERS:
                    for value in values:
                        check_lookup(key, value, self.offered_lookups)
            check_date_params(dict(request.GET.lists()), self.date_hierarchy)
        except IncorrectLookupParameters:
            return False
        return True

    def _newest_day_with_events(self, request: HttpRequest) -> datetime.date | None:
        """The newest partition day holding an event, looking back ``default_day_lookback`` days.

        One ``EXISTS`` per day, each bounded to that day's partition (it stops at
        the first row); quiet days are skipped so the list does not open empty.
        """
        queryset = self.get_queryset(request)
        days = partition_days(self.model, queryset.db)
        for day in reversed(days[-self.default_day_lookback :]):
            start, end = day_bounds(day)
            if queryset.filter(timestamp__gte=start, timestamp__lt=end).exists():
                return day
        return days[-1] if days else None

    @admin.display(description=_("user"), ordering=None)
    def user_display(self, obj: Any) -> str:
        """The username snapshot, linked to this user's events (no user query)."""
        if obj.user_id is None:
            return obj.username or "-"
        label = obj.username or f"#{obj.user_id}"
        return format_html('<a href="?{}">{}</a>', urlencode({"user_id": obj.user_id}), label)

    @admin.display(description=_("object"))
    def object_display(self, obj: Any) -> str:
        """The object's id, linked to all events of this object (the object is not loaded)."""
        params = urlencode({_CONTENT_TYPE_PARAM: obj.content_type_id, "object_id": obj.object_id})
        return format_html('<a href="?{}">{}</a>', params, obj.object_id)

    @admin.display(description=_("user id"))
    def user_id_display(self, obj: Any) -> Any:
        return obj.user_id

    @admin.display(description=_("content object"))
    def content_object_display(self, obj: Any) -> str:
        """A link to the object's own admin page, built from type and id without loading it."""
        content_type = obj.content_type
        label = f"{content_type.app_label}.{content_type.model} #{obj.object_id}"
        try:
            url = reverse(
                f"admin:{content_type.app_label}_{content_type.model}_change",
                args=[quote(obj.object_id)],
                current_app=self.admin_site.name,
            )
        except NoReverseMatch:
            return label
        return format_html('<a href="{}">{}</a>', url, label)

    @admin.display(description=_("query parameters"))
    def query_params_display(self, obj: Any) -> SafeString:
        return _json_block(obj.query_params)

    @admin.display(description=_("POST data"))
    def post_data_display(self, obj: Any) -> SafeString:
        return _json_block(obj.post_data)

    @admin.display(description=_("headers"))
    def headers_display(self, obj: Any) -> SafeString:
        return _json_block(obj.headers)

    @admin.display(description=_("content"))
    def content_display(self, obj: Any) -> SafeString:
        return _json_block(obj.content)


class ArchivedAuditEventAdmin(AuditEventAdmin):
    """Read-only admin of the archived events (``AUDIT_EVENT_ARCHIVE_MODEL``)."""

    list_display: Any = (*AuditEventAdmin.list_display, "archive_timestamp_display")
    fields = (*AuditEventAdmin.fields, "archive_timestamp_display")

    @admin.display(description=_("archived at"))
    def archive_timestamp_display(self, obj: Any) -> Any:
        return obj.archive_timestamp


class ArchivedDayAdmin(ReadOnlyAdminMixin, admin.ModelAdmin):  # type: ignore[type-arg]
    """Read-only list of the days moved to an archive table."""

    list_display = ("day", "archive_table", "archived_at", "row_count", "digest")
    list_filter = ("archive_table",)
    offered_lookups = ("archive_table__exact", "day__year", "day__month", "day__day")
    date_hierarchy = "day"
    ordering = ("-day",)


def _json_block(value: Any) -> SafeString:
    """A JSON value as indented, escaped text (shown exactly as stored, masks included)."""
    return format_html(
        "<pre>{}</pre>", json.dumps(value, indent=2, sort_keys=True, cls=AuditJSONEncoder)
    )


def audit_events_url(obj: Model, *, archived: bool = False, site: str = "admin") -> str:
    """The admin changelist URL of ``obj``'s events (live or archived).

    Args:
        obj: a saved model instance.
        archived: link to the archived events instead of the live ones.
        site: the admin site's name (URL namespace).

    Returns:
        The changelist path, filtered by the object's content type and id.
    """
    from audit_events.models import get_audit_event_archive_model, get_audit_event_model

    model = get_audit_event_archive_model() if archived else get_audit_event_model()
    opts = model._meta
    content_type = ContentType.objects.get_for_model(obj)
    base = reverse(f"{site}:{opts.app_label}_{opts.model_name}_changelist")
    return f"{base}?{urlencode({_CONTENT_TYPE_PARAM: content_type.pk, 'object_id': obj.pk})}"


class AuditEventsLinkMixin:
    """Add links to an object's live and archived events on its admin change page.

    Put it before ``admin.ModelAdmin`` in the bases. The read-only field
    ``audit_events_link`` is appended to ``readonly_fields``; a ModelAdmin that
    lists ``fields`` or ``fieldsets`` itself must name it there too. It can also
    go in ``list_display``.
    """

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> tuple[str, ...]:
        fields = super().get_readonly_fields(request, obj)  # type: ignore[misc]
        return (*fields, "audit_events_link")

    @admin.display(description=_("audit events"))
    def audit_events_link(self, obj: Any) -> str:
        """Links to the changelists of the object's events (no query on the event tables)."""
        if obj is None or obj.pk is None:
            return "-"
        return format_html(
            '<a href="{}">{}</a> · <a href="{}">{}</a>',
            audit_events_url(obj),
            _("Events"),
            audit_events_url(obj, archived=True),
            _("Archived events"),
        )
