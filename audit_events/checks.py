"""System checks of audit_events (ids ``audit_events.E001``..., documented in docs/checks.md)."""

from __future__ import annotations
