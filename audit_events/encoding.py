"""JSON encoding of event content, headers and request data.

The original package used the plain JSON encoder, so ``create_fields_event``
crashed on dates, decimals and UUIDs. Django's encoder handles those.
"""

from __future__ import annotations

from typing import Any

from django.core.serializers.json import DjangoJSONEncoder

__all__ = ["AuditJSONEncoder"]


class AuditJSONEncoder(DjangoJSONEncoder):
    """Encodes dates, times, decimals, UUIDs and lazy strings as Django does."""

    def default(self, o: Any) -> Any:
        return super().default(o)
