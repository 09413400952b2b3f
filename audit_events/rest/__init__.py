"""Read-only REST API of audit events (optional: needs Django REST framework).

Install the extra (``pip install "audit-events[drf]"``) and include the URLs::

    path("api/audit/", include("audit_events.rest.urls"))

Nothing else in ``audit_events`` imports this package, so the library works
without DRF. See docs/api-rest.md.
"""

from __future__ import annotations

try:
    import drf_spectacular  # noqa: F401
    import rest_framework  # noqa: F401
except ImportError as exc:  # pragma: no cover - exercised in a subprocess test
    raise ImportError(
        "audit_events.rest needs Django REST framework and drf-spectacular: "
        "pip install 'audit-events[drf]'"
    ) from exc
