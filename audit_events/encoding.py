"""JSON encoding of event content, headers and request data.

The original package used the plain JSON encoder, so ``create_fields_event``
crashed on dates, decimals and UUIDs. Django's encoder handles those.

Two PostgreSQL facts shape the rest:

* ``jsonb`` (and ``text``) reject the NUL character: ``\\u0000`` in a JSON
  string fails with "unsupported Unicode escape sequence". A NUL can arrive in
  a query string, a form field or a header, and must not turn a request into
  a 500. It is stored as U+FFFD (REPLACEMENT CHARACTER), the standard marker
  for "a character that could not be represented".
* ``jsonb`` also rejects a lone UTF-16 surrogate escape (``\\ud800`` without
  its pair), which Python happily produces from ``surrogateescape``-decoded
  bytes. Those become U+FFFD too. Valid surrogate pairs are kept.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

__all__ = ["AuditJSONEncoder", "check_encodable", "clean_text"]

REPLACEMENT = "\ufffd"

# Scanning escapes from the left, each match consumes a whole escape sequence,
# so an escaped backslash followed by "u0000" (user text) is never mistaken for
# a NUL escape. Python's json module writes lower-case hex.
_ESCAPE = re.compile(
    r"(?P<pair>\\ud[89ab][0-9a-f]{2}\\ud[c-f][0-9a-f]{2})"
    r"|(?P<bad>\\u0000|\\ud[89a-f][0-9a-f]{2})"
    r"|\\."
)
_SURROGATE = re.compile("[\ud800-\udfff]")


def _replace_escape(match: re.Match[str]) -> str:
    if match.group("bad"):
        return "\\ufffd"
    return match.group(0)


def clean_json_text(text: str) -> str:
    """Replace NUL and lone-surrogate escapes in encoded JSON ``text`` with U+FFFD.

    Args:
        text: JSON produced by ``json.dumps`` (``ensure_ascii`` or not).

    Returns:
        JSON that PostgreSQL's ``jsonb`` accepts.
    """
    if "\\u0000" not in text and "\\ud" not in text:
        return text
    return _ESCAPE.sub(_replace_escape, text)


def clean_text(value: str) -> str:
    """Make ``value`` storable in a PostgreSQL ``text`` column.

    Replaces NUL characters and lone surrogates with U+FFFD.

    Args:
        value: Any string.

    Returns:
        The string with unstorable characters replaced.
    """
    if "\x00" in value:
        value = value.replace("\x00", REPLACEMENT)
    # A Python str can hold surrogate code points (e.g. from surrogateescape);
    # they are never valid UTF-8, so PostgreSQL cannot store them.
    return _SURROGATE.sub(REPLACEMENT, value)


class AuditJSONEncoder(DjangoJSONEncoder):
    """Encodes dates, times, decimals, UUIDs and lazy strings as Django does.

    The encoded text is made acceptable to PostgreSQL's ``jsonb`` (see the
    module docstring), and a value that cannot be encoded raises a
    ``TypeError`` that names the key holding it.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # JSON has no NaN or Infinity and PostgreSQL's jsonb refuses them ("Token
        # "NaN" is invalid"): refuse them here, before anything is sent.
        kwargs["allow_nan"] = False
        super().__init__(*args, **kwargs)

    def encode(self, o: Any) -> str:
        try:
            text = super().encode(o)
        except (TypeError, ValueError) as exc:
            path = _unencodable_path(o, self)
            if path is None:
                raise
            raise TypeError(
                f"audit event data at key {path!r} is not JSON serializable: {exc}"
            ) from exc
        if not self.ensure_ascii:
            text = _SURROGATE.sub(REPLACEMENT, text)
        return clean_json_text(text)


def check_encodable(content: Mapping[str, Any]) -> None:
    """Raise ``TypeError`` naming the first key of ``content`` that cannot be encoded.

    Args:
        content: Event content about to be saved.

    Raises:
        TypeError: a value (at any depth) is not JSON serializable; the message
            names its key path, e.g. ``'order.items[2]'``.
    """
    AuditJSONEncoder().encode(content)


def _unencodable_path(value: Any, encoder: json.JSONEncoder, path: str = "") -> str | None:
    """The key path of the first value in ``value`` the encoder cannot encode."""
    if isinstance(value, Mapping):
        for key, item in value.items():
            if not isinstance(key, (str, int, float, bool)) and key is not None:
                return _join(path, repr(key))
            found = _unencodable_path(item, encoder, _join(path, str(key)))
            if found is not None:
                return found
        return None
    if isinstance(value, (list, tuple)):
        for index, item in enumerate(value):
            found = _unencodable_path(item, encoder, f"{path}[{index}]")
            if found is not None:
                return found
        return None
    return None if _encodable_scalar(value, encoder) else (path or "<root>")


def _encodable_scalar(value: Any, encoder: json.JSONEncoder) -> bool:
    if isinstance(value, float):
        return math.isfinite(value)  # NaN and Infinity are not JSON
    if isinstance(value, (str, int, bool)) or value is None:
        return True
    try:
        encoder.default(value)
    except TypeError:
        return False
    return True


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
