"""The views of the request benchmarks: each reads one row, as a typical view does.

``audited`` also records one event through the audit middleware's context;
``by_hand`` writes the same row with a raw INSERT (the floor), ``ready_made``
too with the request's values of the first request; ``plain`` only reads;
``empty`` does neither (to tell what the read costs).
"""

from django.contrib import admin
from django.contrib.auth import get_user_model
from django.http import HttpRequest, HttpResponse
from django.urls import include, path

from bench import write


def _read_one_row() -> object:
    return get_user_model().objects.get(username=write.TARGET_USERNAME)


def audited(request: HttpRequest) -> HttpResponse:
    """Read one row and record one event about it, as an app view would."""
    write.record_in_request(request, _read_one_row(), write.VIEWED)
    return HttpResponse("ok")


def plain(request: HttpRequest) -> HttpResponse:
    """The same read and response, recording nothing."""
    _read_one_row()
    return HttpResponse("ok")


def by_hand(request: HttpRequest) -> HttpResponse:
    """The same read, and the row an event would be written by a raw INSERT (the floor)."""
    write.record_by_hand(request, _read_one_row())
    return HttpResponse("ok")


def ready_made(request: HttpRequest) -> HttpResponse:
    """The same read and row, its URL, client IP and user not read from the request."""
    write.record_ready_made(request, _read_one_row())
    return HttpResponse("ok")


def empty(request: HttpRequest) -> HttpResponse:
    """The same response without the read."""
    return HttpResponse("ok")


urlpatterns = [
    path("audited/", audited),
    path("plain/", plain),
    path("by-hand/", by_hand),
    path("ready-made/", ready_made),
    path("empty/", empty),
    path("admin/", admin.site.urls),
    path("api/audit/", include("audit_events.rest.urls")),
]
