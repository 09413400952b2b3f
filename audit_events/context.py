"""``AuditContext``: what every event of one request (or task) has in common.

Fixes against django-audit-events: ``extra_data`` belongs to one context (the
original shared one class-level dict between all contexts and threads), a
context can be copied and pickled (to hand it to a Celery task), and the
user is read when an event is created, so a user authenticated inside the
view (DRF token/JWT) is the one recorded.
"""

from __future__ import annotations

import copy
import functools
from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

from asgiref.sync import sync_to_async
from django.contrib.auth import get_user_model
from django.db import models
from django.http import HttpRequest
from django.utils import timezone
from django.utils.functional import LazyObject, empty

from audit_events import capture
from audit_events.conf import settings
from audit_events.encoding import clean_text
from audit_events.ids import ProvisionalId, uuid7, uuid7_for
from audit_events.utils import get_client_ip_resolver, normalize_ip

__all__ = ["AuditContext", "ReadOnlyContextError"]


def __getattr__(name: str) -> Any:
    # django-audit-events' ``context.MASK_VALUE``, read from the setting on access.
    if name == "MASK_VALUE":
        return settings.AUDIT_MASK_VALUE
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


_FIELDS = ("url", "remote_addr", "query_params", "post_data", "headers")
_EMPTY: dict[str, Any] = {}


class ReadOnlyContextError(AttributeError, NotImplementedError):
    """An ``AuditContext`` attribute was assigned or deleted.

    Also a ``NotImplementedError``, which django-audit-events raised here, so
    code written against it still catches it.
    """


class _RequestUser:
    """Reads ``request.user`` when asked, not when the context is built."""

    __slots__ = ("request",)

    def __init__(self, request: HttpRequest) -> None:
        self.request = request

    def get(self) -> Any:
        return getattr(self.request, "user", None)

    def __deepcopy__(self, memo: dict[int, Any]) -> _RequestUser:
        return self  # the request is shared, never copied


class AuditContext:
    """Creates audit events that share request data and ``extra_data``.

    Args:
        url: The URL to record (text, stored whole).
        remote_addr: The client IP address (IPv4 or IPv6; invalid -> ``None``).
        user: The acting user (a user instance, ``AnonymousUser`` or ``None``).
        query_params: Query parameters to record (a dict).
        post_data: POST data to record (a dict).
        headers: Headers to record (a dict).
        extra_data: Initial content shared by every event of this context.

    All attributes are read-only (assigning raises ``AttributeError``);
    ``extra_data`` is a dict of this context only, to be mutated in place.
    ``AuditContext()`` works anywhere: in a view, a management command or a
    Celery task.
    """

    __slots__ = (
        "_extra_data",
        "_headers",
        "_post_data",
        "_query_params",
        "_remote_addr",
        "_url",
        "_user",
        "_user_id",
        "_username",
    )
    _extra_data: dict[str, Any]
    _headers: dict[str, Any]
    _post_data: dict[str, Any]
    _query_params: dict[str, Any]
    _remote_addr: str | None
    _url: str
    _user: Any
    _user_id: Any
    _username: str | None

    def __init__(
        self,
        url: str | None = None,
        remote_addr: str | None = None,
        user: Any = None,
        query_params: Mapping[str, Any] | None = None,
        post_data: Mapping[str, Any] | None = None,
        headers: Mapping[str, Any] | None = None,
        *,
        extra_data: Mapping[str, Any] | None = None,
    ) -> None:
        self._set("_url", clean_text(url) if url else "")
        self._set("_remote_addr", normalize_ip(remote_addr))
        self._set("_query_params", dict(query_params or {}))
        self._set("_post_data", dict(post_data or {}))
        self._set("_headers", dict(headers or {}))
        self._set("_extra_data", dict(extra_data or {}))
        self._set("_user", user)
        self._set("_user_id", None)
        self._set("_username", None)

    def _set(self, name: str, value: Any) -> None:
        object.__setattr__(self, name, value)

    def __setattr__(self, name: str, value: Any) -> None:
        raise ReadOnlyContextError(f"AuditContext.{name} is read-only; build a new AuditContext")

    def __delattr__(self, name: str) -> None:
        raise ReadOnlyContextError(f"AuditContext.{name} is read-only")

    def __repr__(self) -> str:
        return f"<AuditContext url={self.url!r} user={self.username!r} ip={self.remote_addr!r}>"

    # --- Building from a request -------------------------------------------------

    @classmethod
    def from_request(cls, request: HttpRequest) -> AuditContext:
        """Build the context of ``request``: URL, client IP and, as configured,
        query parameters, POST data and headers, with secrets masked.

        The user is read from ``request.user`` each time an event is created.
        Capture problems are logged, never raised; a bad
        ``AUDIT_CLIENT_IP_RESOLVER_FUNCTION`` raises ``ImproperlyConfigured``.
        """
        context = cls()
        context._capture(request)
        context._set("_user", _RequestUser(request))
        return context

    def _capture(self, request: HttpRequest) -> None:
        """Set the URL, client IP and data slots from ``request``, as ``__init__`` would."""
        resolver = get_client_ip_resolver()
        url = capture.capture_safely("URL", lambda: capture.capture_url(request), "")
        address = capture.capture_safely("client IP", lambda: resolver(request), None)
        self._set("_url", clean_text(url) if url else "")
        self._set("_remote_addr", normalize_ip(address))
        for slot, what, read in (
            ("_query_params", "query parameters", capture.capture_query_params),
            ("_post_data", "POST data", capture.capture_post_data),
            ("_headers", "headers", capture.capture_headers),
        ):
            value = capture.capture_safely(what, functools.partial(read, request), _EMPTY)
            self._set(slot, dict(value))

    # --- Read-only attributes -------------------------------------------------------

    @property
    def url(self) -> str:
        """The recorded URL (``""`` outside a request)."""
        return self._url

    @property
    def remote_addr(self) -> str | None:
        """The client IP address, IPv4 or IPv6."""
        return self._remote_addr

    @property
    def query_params(self) -> dict[str, Any]:
        """The recorded query parameters (masked)."""
        return self._query_params

    @property
    def post_data(self) -> dict[str, Any]:
        """The recorded POST data (masked)."""
        return self._post_data

    @property
    def headers(self) -> dict[str, Any]:
        """The recorded headers (masked)."""
        return self._headers

    @property
    def extra_data(self) -> dict[str, Any]:
        """Content merged into every event of this context; mutate it in place."""
        return self._extra_data

    @property
    def user(self) -> Any:
        """The acting user, or ``None`` for an anonymous one.

        After unpickling only the id is known; the user is then loaded on access.
        """
        user = self._current_user()
        if user is None and self._user_id is not None:
            user = get_user_model()._default_manager.filter(pk=self._user_id).first()
        return user

    @property
    def user_id(self) -> Any:
        """The primary key of the acting user, or ``None``."""
        user = self._current_user()
        return self._user_id if user is None else user.pk

    @property
    def username(self) -> str:
        """The acting user's username (``""`` for none)."""
        user = self._current_user()
        if user is None:
            return self._username or ""
        return clean_text(str(user.get_username()))

    def _current_user(self) -> Any:
        user = self._user
        if isinstance(user, _RequestUser):
            user = user.get()
        if isinstance(user, LazyObject):
            # request.user's SimpleLazyObject: keep the real instance (every
            # attribute read through the proxy costs).
            if user._wrapped is empty:
                user._setup()
            user = user._wrapped
        if user is None or not getattr(user, "is_authenticated", False):
            return None
        return user

    @staticmethod
    def mask_fields(data: Any, fields_to_mask: Any) -> Any:
        """Replace the values of ``fields_to_mask`` in ``data`` by ``AUDIT_MASK_VALUE``.

        django-audit-events' helper, kept for code that calls it: ``data`` (a dict
        or a mutable ``QueryDict``) is changed in place and returned.
        """
        for name in [name for name in fields_to_mask if name in data]:
            data[name] = settings.AUDIT_MASK_VALUE
        return data

    # --- Events ------------------------------------------------------------------------

    def new_event(self) -> models.Model:
        """An unsaved event of ``get_audit_event_model()`` with this context's data.

        ``content`` is a copy of ``extra_data``; set ``content_object`` (and any
        other field) and call ``save()``.
        """
        from audit_events.models import get_audit_event_model

        model = get_audit_event_model()
        user = self._current_user()  # once: request.user is a lazy proxy, slow to ask
        if user is None:
            user_id, username = self._user_id, self._username or ""
        else:
            user_id, username = user.pk, clean_text(str(user.get_username()))
        given = {
            "url": self._url,
            "remote_addr": self._remote_addr,
            "query_params": _copy_content(self._query_params),
            "post_data": _copy_content(self._post_data),
            "headers": _copy_content(self._headers),
            "content": _copy_content(self._extra_data),
            "username": _fit(model, "username", username),
            "user_id": user_id,
        }
        blueprint = _blueprint(model)
        if blueprint.own_id_and_time:
            # What the fields' defaults would give, made once: the id of the timestamp.
            now = timezone.now()
            given["timestamp"], given["id"] = now, uuid7_for(now, ProvisionalId)
        # Positional arguments, one per concrete field: Django's fast way to build
        # an instance (as when loading rows); every other field gets its default.
        values = [
            given[name] if name in given else (make() if make else constant)
            for name, make, constant in blueprint.fields
        ]
        event = model(*values)  # type: ignore[misc]  # positional: one per concrete field
        if user is not None:
            event.user = user
        return event

    def create_event(self, content_object: models.Model, **content: Any) -> models.Model:
        """Create and save an event about ``content_object``.

        Args:
            content_object: The saved model instance the event is about.
            **content: Event content; merged over ``extra_data`` (these win).

        Returns:
            The saved event.

        Raises:
            TypeError: a content value cannot be encoded as JSON (the message
                names its key); nothing is written.
            ValueError: ``content_object`` is not a saved model instance.
        """
        _check_content_object(content_object)
        event = self.new_event()
        event.content.update(content)  # type: ignore[attr-defined]
        # No separate encodability check: save() encodes the content before
        # anything is sent, and AuditJSONEncoder's TypeError names the key.
        event.content_object = content_object  # type: ignore[attr-defined]
        event.save()
        return event

    def create_fields_event(
        self, content_object: models.Model, *fields: str, **content: Any
    ) -> models.Model:
        """Like ``create_event``, adding the current values of ``fields`` to the content.

        A concrete field gives its stored value (a foreign key gives the
        related id); other names are read with ``getattr``. Dates, times,
        decimals and UUIDs are encoded. As in the original package, a field
        value replaces a keyword argument of the same name.
        """
        _check_content_object(content_object)
        for name in fields:
            # A field named like a secret (a password hash, an API key) is masked,
            # as it would be in a request.
            value = _field_value(content_object, name)
            # Values are masked inside too: a JSON field holding {"api_key": ...}.
            content[name] = (
                settings.AUDIT_MASK_VALUE
                if capture.is_sensitive(name)
                else capture.mask_json(value)
            )
        return self.create_event(content_object, **content)

    async def acreate_event(self, content_object: models.Model, **content: Any) -> models.Model:
        """``create_event`` for async code (runs it in a thread, as Django's ORM does)."""
        return await sync_to_async(self.create_event)(content_object, **content)

    async def acreate_fields_event(
        self, content_object: models.Model, *fields: str, **content: Any
    ) -> models.Model:
        """``create_fields_event`` for async code."""
        return await sync_to_async(self.create_fields_event)(content_object, *fields, **content)

    # --- Copying and pickling -------------------------------------------------------------

    def __getstate__(self) -> dict[str, Any]:
        """The picklable state: the user becomes its id and username."""
        state = {name: getattr(self, f"_{name}") for name in _FIELDS}
        state.update(extra_data=self.extra_data, user_id=self.user_id, username=self.username)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        for name in _FIELDS:
            self._set(f"_{name}", state[name])
        self._set("_extra_data", state["extra_data"])
        self._set("_user", None)
        self._set("_user_id", state["user_id"])
        self._set("_username", state["username"])

    def as_dict(self) -> dict[str, Any]:
        """The context as a plain dict, for Celery's default JSON serializer.

        ``AuditContext.from_dict(context.as_dict())`` rebuilds it (the user as
        its id and username). ``extra_data`` must itself be JSON-serializable.
        """
        state = self.__getstate__()
        return {**state, "extra_data": copy.deepcopy(state["extra_data"])}

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> AuditContext:
        """Rebuild a context from ``as_dict()``'s output.

        Raises:
            KeyError: a key of ``as_dict()``'s output is missing.
        """
        context = object.__new__(cls)
        context.__setstate__(dict(data))
        return context

    def _clone(self, copier: Callable[[Any], Any]) -> AuditContext:
        cls = self._copy_type()
        clone = object.__new__(cls)
        for name in _slots_of(cls):
            clone._set(name, copier(getattr(self, name)))
        return clone

    def _copy_type(self) -> type[AuditContext]:
        return type(self)

    def __copy__(self) -> AuditContext:
        """A copy with its own ``extra_data`` dict (values shared)."""
        return self._clone(lambda value: dict(value) if isinstance(value, dict) else value)

    def __deepcopy__(self, memo: dict[int, Any]) -> AuditContext:
        """A copy with deep copies of ``extra_data`` and the request data."""
        return self._clone(lambda value: copy.deepcopy(value, memo))


#: The slots ``RequestAuditContext`` fills from its request on first use.
_CAPTURED = ("_url", "_remote_addr", "_query_params", "_post_data", "_headers")


class RequestAuditContext(AuditContext):
    """The context of one request, captured from it the first time it is needed.

    What ``AuditEventsMiddleware`` puts on ``request.audit_context``: an
    ``AuditContext`` itself, not a proxy (a proxy would cost on every
    attribute read). A request that records nothing reads nothing from the
    request; the first event (or the first read of ``url``, ``remote_addr``...)
    captures the URL, client IP and data, as ``AuditContext.from_request``.
    Copies and pickles are plain ``AuditContext`` objects.
    """

    __slots__ = ("_request",)

    def __init__(self, request: HttpRequest) -> None:
        self._set("_request", request)
        self._set("_extra_data", {})
        self._set("_user", _RequestUser(request))
        self._set("_user_id", None)
        self._set("_username", None)

    def __getattr__(self, name: str) -> Any:
        # Reached only for a slot that is not set yet: the captured request data.
        if name not in _CAPTURED:
            raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")
        self._capture(object.__getattribute__(self, "_request"))
        return object.__getattribute__(self, name)

    def _copy_type(self) -> type[AuditContext]:
        return AuditContext  # a copy is captured and needs its request no more

    def __reduce__(self) -> tuple[Any, ...]:
        return (AuditContext.from_dict, (self.__getstate__(),))


def _slots_of(cls: type) -> tuple[str, ...]:
    """Every slot of ``cls`` and its bases (``__slots__`` names only the class's own)."""
    return tuple(
        name for klass in reversed(cls.__mro__) for name in (klass.__dict__.get("__slots__") or ())
    )


class _Blueprint(NamedTuple):
    """How ``new_event`` builds instances of one model, worked out once."""

    #: Per concrete field: its attname, and its default as a callable or a constant.
    fields: tuple[tuple[str, Callable[[], Any] | None, Any], ...]
    #: Whether ``id`` and ``timestamp`` have the package's own defaults, which
    #: ``new_event`` can then give at once (one id instead of two).
    own_id_and_time: bool


@functools.cache
def _blueprint(model: type[models.Model]) -> _Blueprint:
    fields = []
    for field in model._meta.concrete_fields:
        if callable(field.default):
            fields.append((field.attname, field.default, None))
        else:
            fields.append((field.attname, None, field.get_default()))
    own = (
        model._meta.pk.attname == "id"
        and model._meta.pk.default is uuid7
        and getattr(model._meta.get_field("timestamp"), "default", None) is timezone.now
    )
    return _Blueprint(tuple(fields), own)


def _copy_content(data: dict[str, Any]) -> dict[str, Any]:
    if not data:
        return {}
    # A value that cannot be deep-copied (a lock, a connection) cannot be
    # encoded either; keep it so that encoding names its key.
    try:
        return copy.deepcopy(data)
    except Exception:
        return dict(data)


def _fit(model: type[models.Model], field_name: str, value: str) -> str:
    """``value`` cut to the column's length, so a long username cannot fail the insert."""
    max_length = _max_length(model, field_name)
    return value[:max_length] if max_length else value


@functools.cache
def _max_length(model: type[models.Model], field_name: str) -> int | None:
    return getattr(model._meta.get_field(field_name), "max_length", None)


def _check_content_object(content_object: Any) -> None:
    if not isinstance(content_object, models.Model):
        raise ValueError(
            f"an audit event needs a model instance as content_object; got {content_object!r}"
        )
    if content_object.pk is None:
        raise ValueError(
            f"an audit event needs a saved content_object; {content_object!r} has no primary key"
        )


def _field_value(instance: models.Model, name: str) -> Any:
    try:
        field = instance._meta.get_field(name)
    except Exception:
        return getattr(instance, name)
    if getattr(field, "concrete", False) and not field.many_to_many:
        return field.value_from_object(instance)  # type: ignore[union-attr]
    return getattr(instance, name)
