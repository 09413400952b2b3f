"""Two views for the whole-request benchmark: one records an event, one does not."""

from django.http import HttpRequest, HttpResponse
from django.urls import path

from bench import write


def audited(request: HttpRequest) -> HttpResponse:
    """Record one event about the benchmark's target object, as an app view would."""
    write.record_in_request(request, {"action": "viewed"})
    return HttpResponse("ok")


def plain(request: HttpRequest) -> HttpResponse:
    """The same response without recording anything."""
    return HttpResponse("ok")


urlpatterns = [path("audited/", audited), path("plain/", plain)]
