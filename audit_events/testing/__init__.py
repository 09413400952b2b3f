"""Helpers for testing projects that use audit_events against a real PostgreSQL."""

from audit_events.testing.postgres import EmbeddedPostgres, EmbeddedPostgresError, find_bindir

__all__ = ["EmbeddedPostgres", "EmbeddedPostgresError", "find_bindir"]
