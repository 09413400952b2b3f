"""``AuditEventsMiddleware``: puts ``request.audit_context`` on every request.

Works for sync (WSGI) and async (ASGI) stacks alike (Django's
sync-and-async middleware pattern), without a thread switch on ASGI.

The context is built on first access, not when the request comes in:

* the request body is read only if a view actually records an event with
  ``AUDIT_INCLUDE_POST_DATA`` on, and after the view had its chance to set
  upload handlers;
* the user is read when each event is created, so a user authenticated
  inside the view (DRF token or JWT authentication sets ``request.user``
  there) is the one recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import iscoroutinefunction, markcoroutinefunction
from django.core.exceptions import ImproperlyConfigured
from django.http import HttpRequest, HttpResponseBase

from audit_events.context import RequestAuditContext

__all__ = ["AuditEventsMiddleware", "MissingAuthenticationMiddleware"]

_MISSING_AUTH = (
    "AuditEventsMiddleware needs request.user: add "
    "'django.contrib.auth.middleware.AuthenticationMiddleware' to MIDDLEWARE before "
    "'audit_events.middleware.AuditEventsMiddleware'."
)


class MissingAuthenticationMiddleware(ImproperlyConfigured, AssertionError):
    """``AuthenticationMiddleware`` does not run before ``AuditEventsMiddleware``.

    Also an ``AssertionError``, which django-audit-events raised here, so code
    written against it still catches it.
    """


class AuditEventsMiddleware:
    """Sets ``request.audit_context``, an ``AuditContext`` captured lazily from the request.

    Raises:
        ImproperlyConfigured: on a request without ``request.user`` (Django's
            ``AuthenticationMiddleware`` is missing or comes later).
    """

    sync_capable = True
    async_capable = True

    def __init__(self, get_response: Callable[[HttpRequest], Any]) -> None:
        self.get_response = get_response
        self.async_mode = iscoroutinefunction(get_response)
        if self.async_mode:
            markcoroutinefunction(self)

    def __call__(self, request: HttpRequest) -> Any:
        if self.async_mode:
            return self.__acall__(request)
        self.process_request(request)
        return self.get_response(request)

    async def __acall__(self, request: HttpRequest) -> HttpResponseBase:
        self.process_request(request)
        response: Awaitable[HttpResponseBase] = self.get_response(request)
        return await response

    def process_request(self, request: HttpRequest) -> None:
        """Attach the lazy ``audit_context`` to ``request``."""
        if not hasattr(request, "user"):
            raise MissingAuthenticationMiddleware(_MISSING_AUTH)
        request.audit_context = RequestAuditContext(request)  # type: ignore[attr-defined]
