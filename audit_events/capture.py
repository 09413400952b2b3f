"""What an audit context takes from a request, with secrets masked.

Masking rules (docs/configuration.md, "Secrets"):

* A name made of secret words is always masked (``secret_names``: ``pass``,
  ``X-Session``, ``accessKey``, ``otp_code``, ``cc_number``...).
* A *sensitive name* is any name in ``AUDIT_MASK_POST_FIELDS`` or
  ``AUDIT_MASK_QUERY_PARAMS``. A field, parameter, JSON key or header is
  masked when its name, compared case-insensitively and ignoring everything
  but letters and digits, *contains* a sensitive name: ``"password"`` masks
  ``Password``, ``new_password1`` and ``user[password]``.
* Both lists apply everywhere: form fields, query parameters (in
  ``query_params`` and inside the stored ``url``), JSON bodies and headers.
* Headers in ``AUDIT_SENSITIVE_HEADERS`` (``Authorization``, ``Cookie``, ...)
  are masked even when listed in ``AUDIT_INCLUDE_HEADERS``, unless also listed
  in ``AUDIT_ALLOW_SENSITIVE_HEADERS``.
* In JSON, a ``{"name": "password", "value": ...}`` pair has its value masked,
  and a GraphQL document (a ``query`` string) has the values of sensitive
  inline arguments masked, with the variables they are given through.

Capturing never fails a request: a part that cannot be read is logged and
left out (see ``capture_safely``).
"""

from __future__ import annotations

import functools
import json
import logging
import math
import re
from collections.abc import Callable, Iterable
from typing import Any, TypeVar
from urllib.parse import quote, unquote_plus

from django.http import HttpRequest, QueryDict
from django.utils.encoding import escape_uri_path, iri_to_uri

from audit_events.conf import settings
from audit_events.secret_names import is_secret_name

__all__ = [
    "OMITTED_KEY",
    "capture_headers",
    "capture_post_data",
    "capture_query_params",
    "capture_safely",
    "capture_url",
    "is_sensitive",
    "mask_graphql",
    "mask_json",
]

logger = logging.getLogger("audit_events")

#: Key of the marker stored in ``post_data`` instead of a body that was not captured.
OMITTED_KEY = "_omitted"

_NOT_ALNUM = re.compile(r"[\W_]+")
#: The parameter (or JSON key) that carries a GraphQL document.
_GRAPHQL_PARAM = "query"
_FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

T = TypeVar("T")


def capture_safely(what: str, capture: Callable[[], T], default: T) -> T:
    """Run ``capture``; on any error log it and return ``default``.

    Recording the request is secondary to serving it: a malformed header, a
    disallowed host or an unreadable body must never turn a good request into
    an error.
    """
    try:
        return capture()
    except Exception:
        logger.warning("audit_events: could not capture the request's %s", what, exc_info=True)
        return default


# --- Names -------------------------------------------------------------------


def _normalize(name: str) -> str:
    return _NOT_ALNUM.sub("", name.casefold())


def sensitive_names() -> frozenset[str]:
    """The normalized names of ``AUDIT_MASK_POST_FIELDS`` and ``AUDIT_MASK_QUERY_PARAMS``."""
    return _normalized_names(
        tuple(settings.AUDIT_MASK_POST_FIELDS), tuple(settings.AUDIT_MASK_QUERY_PARAMS)
    )


@functools.lru_cache(maxsize=16)
def _normalized_names(*lists: tuple[str, ...]) -> frozenset[str]:
    # Normalized once per value of the settings, not once per request.
    return frozenset(n for n in map(_normalize, (name for names in lists for name in names)) if n)


def is_sensitive(name: str, names: Iterable[str] | None = None) -> bool:
    """Whether a field, parameter, key or header called ``name`` must be masked.

    Args:
        name: The name as it appears in the request.
        names: Normalized sensitive names (default: ``sensitive_names()``).
    """
    return _is_sensitive(str(name), sensitive_names() if names is None else frozenset(names))


# Every request asks about the same few parameter and header names. Bounded:
# the names are the caller's.
@functools.lru_cache(maxsize=4096)
def _is_sensitive(name: str, names: frozenset[str]) -> bool:
    if is_secret_name(name):
        return True
    key = _normalize(name)
    return any(_matches(n, key) for n in names)


#: Sensitive names this short match a whole name only: "key" must mask ``key`` and
#: ``api_key`` (which "apikey" covers) but not ``monkey``; "pin" not ``shipping``.
_WHOLE_NAME_ONLY = 4


def _matches(sensitive: str, key: str) -> bool:
    if len(sensitive) <= _WHOLE_NAME_ONLY:
        return sensitive == key
    return sensitive in key


def _mask_values(values: list[str], masked: bool) -> str | list[str]:
    if masked:
        values = [settings.AUDIT_MASK_VALUE] * len(values)
    return values[0] if len(values) == 1 else list(values)


def mask_querydict(data: QueryDict) -> dict[str, str | list[str]]:
    """A JSON-ready copy of ``data`` with sensitive values masked.

    A parameter given once is stored as a string, one given several times as
    the list of all its values.
    """
    names = sensitive_names()
    masked = {key: _mask_values(data.getlist(key), is_sensitive(key, names)) for key in data}
    if isinstance(masked.get(_GRAPHQL_PARAM), str):  # GraphQL over GET or a form
        masked[_GRAPHQL_PARAM] = mask_graphql(str(masked[_GRAPHQL_PARAM]), names)[0]
    return masked


def mask_json(value: Any, names: frozenset[str] | None = None) -> Any:
    """A copy of a decoded JSON ``value`` with the values of sensitive keys masked, at any depth.

    Also masked: the value of a name/value pair naming a secret
    (``{"name": "password", "value": ...}``), and in an object carrying a
    GraphQL document (``"query"``), the sensitive inline arguments of the
    document and the variables passed to them.
    """
    names = sensitive_names() if names is None else names
    if isinstance(value, dict):
        return _mask_object(value, names)
    if isinstance(value, list | tuple):
        return [mask_json(item, names) for item in value]
    return value


#: Keys of a name/value pair ({"name": "password", "value": "..."}) as HAR and AWS write them.
_PAIR_NAMES = ("name", "key", "field", "param", "parameter", "header", "Name", "Key")
_PAIR_VALUES = ("value", "values", "val", "Value")


def _mask_object(value: dict[Any, Any], names: frozenset[str]) -> dict[Any, Any]:
    mask = settings.AUDIT_MASK_VALUE
    masked = {
        key: mask if is_sensitive(key, names) else mask_json(item, names)
        for key, item in value.items()
    }
    pair_name = next((value[k] for k in _PAIR_NAMES if isinstance(value.get(k), str)), None)
    if pair_name is not None and is_sensitive(pair_name, names):
        masked.update({k: mask for k in _PAIR_VALUES if k in masked})
    if isinstance(masked.get(_GRAPHQL_PARAM), str):
        document, hidden = mask_graphql(masked[_GRAPHQL_PARAM], names)
        masked[_GRAPHQL_PARAM] = document
        variables = masked.get("variables")
        if hidden and isinstance(variables, dict):
            masked["variables"] = {k: mask if k in hidden else v for k, v in variables.items()}
    return masked


# A GraphQL argument: name, colon, then a block string, a string, a $variable or a literal.
_GRAPHQL_ARGUMENT = re.compile(
    r"(?<![$_0-9A-Za-z])(?P<name>[_A-Za-z][_0-9A-Za-z]*)(?P<colon>\s*:\s*)"
    r'(?P<value>"""(?:[^"\\]|\\.|"(?!""))*"""|"(?:[^"\\\n]|\\.)*"|\$[_A-Za-z][_0-9A-Za-z]*|[-+.0-9A-Za-z_]+)'
)


def mask_graphql(document: str, names: frozenset[str] | None = None) -> tuple[str, set[str]]:
    """``document`` with the values of sensitive inline arguments masked.

    Returns:
        The masked document, and the names of the variables given to sensitive
        arguments (``login(password: $p)`` -> ``{"p"}``), whose values the
        caller masks in ``variables``.
    """
    names = sensitive_names() if names is None else names
    hidden: set[str] = set()

    def replace(match: re.Match[str]) -> str:
        if not is_sensitive(match["name"], names):
            return match[0]
        if match["value"].startswith("$"):
            hidden.add(match["value"][1:])
            return match[0]
        return f"{match['name']}{match['colon']}{json.dumps(settings.AUDIT_MASK_VALUE)}"

    return _GRAPHQL_ARGUMENT.sub(replace, document), hidden


# --- URL and query string ------------------------------------------------------


def capture_url(request: HttpRequest) -> str:
    """The absolute URL of ``request`` with sensitive query values masked.

    Unmasked parameters keep their original encoding. When the host is not
    allowed (``DisallowedHost``) the URL is stored from the path on.
    """
    query = iri_to_uri(mask_query_string(request.META.get("QUERY_STRING", "")))
    try:
        base = _absolute_path(request)
    except Exception:
        logger.warning(
            "audit_events: host not usable; storing the URL from its path on", exc_info=True
        )
        base = escape_uri_path(request.path)
    return f"{base}?{query}" if query else base


def _absolute_path(request: HttpRequest) -> str:
    """``request.build_absolute_uri()`` without its query, built more cheaply.

    A plain path (the usual case) is joined to the scheme and host as Django
    does; any other (dot segments, a leading ``//``) takes Django's own path.
    ``get_host()`` raises ``DisallowedHost`` either way.
    """
    path = _plain_path(request.path)
    if path is not None:
        return f"{request.scheme}://{request.get_host()}{path}"
    # The path part is percent-encoded, so the first "?" starts the query.
    return request.build_absolute_uri().partition("?")[0]


@functools.lru_cache(maxsize=4096)
def _plain_path(path: str) -> str | None:
    """``path`` percent-encoded as ``build_absolute_uri`` would, or ``None`` if not plain.

    Cached: a site's requests come back to the same paths (bounded: the path is
    the caller's). The host that ``get_host()`` accepts is plain ASCII, so only
    the path needs encoding; ``iri_to_uri`` leaves an escaped path as it is.
    """
    escaped = escape_uri_path(path)
    if escaped.startswith("/") and not escaped.startswith("//") and "/." not in escaped:
        return iri_to_uri(escaped)
    return None


def mask_query_string(query: str) -> str:
    """``query`` with the value of every sensitive parameter replaced by the mask."""
    if not query:
        return query
    names = sensitive_names()
    mask = quote(settings.AUDIT_MASK_VALUE, safe="*")
    pieces = []
    for piece in query.split("&"):
        name, _sep, value = piece.partition("=")
        if is_sensitive(unquote_plus(name), names):
            piece = f"{name}={mask}"
        elif unquote_plus(name) == _GRAPHQL_PARAM:
            document = unquote_plus(value)
            masked = mask_graphql(document, names)[0]
            piece = piece if masked == document else f"{name}={quote(masked, safe='')}"
        pieces.append(piece)
    return "&".join(pieces)


def capture_query_params(request: HttpRequest) -> dict[str, Any]:
    """The request's query parameters, masked (``{}`` unless ``AUDIT_INCLUDE_QUERY_PARAMS``)."""
    if not settings.AUDIT_INCLUDE_QUERY_PARAMS:
        return {}
    return mask_querydict(request.GET)


# --- Body --------------------------------------------------------------------------


def _omitted(reason: str, **details: Any) -> dict[str, Any]:
    return {OMITTED_KEY: {"reason": reason, **details}}


def _body_size(request: HttpRequest) -> int | None:
    if hasattr(request, "_body"):
        return len(request._body)
    try:
        return int(request.META.get("CONTENT_LENGTH") or "")
    except ValueError:
        return None


def _is_json(content_type: str) -> bool:
    return content_type == "application/json" or content_type.endswith("+json")


def _body_unreadable(request: HttpRequest) -> bool:
    # Once a view has consumed the stream (request.read(), streaming upload
    # handlers) without caching it, the body is gone; touching request.body
    # would raise RawPostDataException.
    return not hasattr(request, "_body") and getattr(request, "_read_started", False)


def capture_post_data(request: HttpRequest) -> dict[str, Any]:
    """The request's form fields or JSON body, masked and bounded.

    Empty unless ``AUDIT_INCLUDE_POST_DATA``. Form bodies
    (``application/x-www-form-urlencoded``, ``multipart/form-data``; uploaded
    files are not stored) and JSON bodies (``application/json``, ``*+json``)
    are captured; other bodies are not, because they cannot be masked. A body
    larger than ``AUDIT_MAX_BODY_SIZE``, of unknown size (chunked), already
    consumed as a stream or not parseable is replaced by
    ``{"_omitted": {"reason": ...}}``. The body is read through
    ``request.body``, which Django caches, so the view can still read it.
    """
    if not settings.AUDIT_INCLUDE_POST_DATA or request.method in ("GET", "HEAD", "OPTIONS"):
        return {}
    content_type = request.content_type or ""
    if not content_type and _assigned_post(request):
        return mask_querydict(request.POST)  # set by hand: tests, django-audit-events' suite
    if content_type not in _FORM_TYPES and not _is_json(content_type):
        return {}
    size = _body_size(request)
    if size is None and not hasattr(request, "_post"):
        return _omitted("unknown size")
    limit = settings.AUDIT_MAX_BODY_SIZE
    if size is not None and size > limit:
        return _omitted("too large", size=size, limit=limit)
    if _is_json(content_type):
        return _capture_json(request)
    return _capture_form(request)


def _assigned_post(request: HttpRequest) -> bool:
    """Whether ``request.POST`` was given values directly rather than parsed from a body."""
    return bool(vars(request).get("POST") or vars(request).get("_post"))


def _capture_form(request: HttpRequest) -> dict[str, Any]:
    if not hasattr(request, "_post"):
        if _body_unreadable(request):
            return _omitted("stream already read")
        # Read (and cache) the body first: parsing a multipart body from the
        # stream would make request.body unavailable to the view afterwards.
        request.body  # noqa: B018
    return mask_querydict(request.POST)


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range")
    return value


def _capture_json(request: HttpRequest) -> dict[str, Any]:
    if _body_unreadable(request):
        return _omitted("stream already read")
    try:
        # NaN, Infinity and 1e999 parse in Python but are not JSON, and jsonb
        # refuses them; a deeply nested body exhausts the parser's recursion.
        data = json.loads(
            request.body.decode(request.encoding or "utf-8"),
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
        )
    except (UnicodeDecodeError, ValueError, RecursionError):
        return _omitted("invalid JSON")
    masked = mask_json(data)
    return masked if isinstance(masked, dict) else {"_json": masked}


# --- Headers -------------------------------------------------------------------------


def _meta_name(name: str, meta: dict[str, Any]) -> str:
    key = name.strip().upper().replace("-", "_")
    if key not in meta and f"HTTP_{key}" in meta:
        return f"HTTP_{key}"
    return key


def _header_label(meta_name: str) -> str:
    # The original package stored "My-Custom-Header" for HTTP_MY_CUSTOM_HEADER.
    name = meta_name[5:] if meta_name.startswith("HTTP_") else meta_name
    return name.replace("_", "-").title()


#: Credential headers masked whatever AUDIT_SENSITIVE_HEADERS says (that setting
#: adds to them), unless listed in AUDIT_ALLOW_SENSITIVE_HEADERS.
_ALWAYS_SENSITIVE = frozenset(
    {"HTTP_AUTHORIZATION", "HTTP_PROXY_AUTHORIZATION", "HTTP_COOKIE", "HTTP_SET_COOKIE"}
)
#: Headers whose value is a URL: their query strings are masked like the request's.
_URL_HEADERS = frozenset(
    {
        "HTTP_REFERER",
        "HTTP_ORIGIN",
        "HTTP_X_ORIGINAL_URL",
        "HTTP_X_REWRITE_URL",
        "HTTP_X_FORWARDED_URI",
    }
)


def _meta_names(names: Iterable[str]) -> frozenset[str]:
    """``request.META`` keys of header names given either way (``X-Key`` or ``HTTP_X_KEY``)."""
    keys = set()
    for name in names:
        key = name.strip().upper().replace("-", "_")
        standalone = key in ("CONTENT_TYPE", "CONTENT_LENGTH") or key.startswith("HTTP_")
        keys.add(key if standalone else f"HTTP_{key}")
    return frozenset(keys)


def header_is_masked(meta_name: str) -> bool:
    """Whether the header ``meta_name`` (a ``request.META`` key) is stored masked."""
    if meta_name in _meta_names(settings.AUDIT_ALLOW_SENSITIVE_HEADERS):
        return False
    sensitive = _ALWAYS_SENSITIVE | _meta_names(settings.AUDIT_SENSITIVE_HEADERS)
    return meta_name in sensitive or is_sensitive(meta_name.removeprefix("HTTP_"))


def _header_value(meta_name: str, value: Any) -> str:
    if header_is_masked(meta_name):
        return str(settings.AUDIT_MASK_VALUE)
    text = str(value)
    if meta_name in _URL_HEADERS and "?" in text:
        base, _, query = text.partition("?")
        return f"{base}?{mask_query_string(query)}"
    return text


def capture_headers(request: HttpRequest) -> dict[str, str]:
    """The headers listed in ``AUDIT_INCLUDE_HEADERS`` that the request has, masked.

    Keys are header names as the original package stored them
    (``HTTP_X_REQUEST_ID`` -> ``"X-Request-Id"``). Names may be given as META
    keys (``HTTP_X_REQUEST_ID``) or header names (``X-Request-ID``), in any case.
    """
    names = settings.AUDIT_INCLUDE_HEADERS
    if not names:
        return {}
    meta = request.META
    headers = {}
    for name in names:
        key = _meta_name(name, meta)
        value = meta.get(key)
        if value in (None, ""):
            continue
        headers[_header_label(key)] = _header_value(key, value)
    return headers
