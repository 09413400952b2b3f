"""Fixtures of the swapped-model suite."""

from tests.fixtures_lifecycle import fresh_layout  # noqa: F401  (re-exported fixture)
