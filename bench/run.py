"""What every scenario gets: the server, the run's size, and fresh databases."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from bench.db import Server, configure_django

__all__ = ["Run"]


@dataclass
class Run:
    """One benchmark run.

    ``quick`` picks small sizes (seconds, for development and the test);
    ``repeat`` is how many repetitions each measurement gets.
    """

    server: Server
    quick: bool
    repeat: int
    shared: dict[str, Any] = field(default_factory=dict)

    def size(self, quick: int, full: int) -> int:
        """``quick`` in a quick run, else ``full``."""
        return quick if self.quick else full

    def fresh_database(self, name: str) -> str:
        """A new migrated database for one scenario, made current for Django; its URL."""
        url = self.server.create_database(name, template=self.server.template)
        configure_django(url)
        return url

    def use_database(self, url: str) -> None:
        """Make the database at ``url`` current for Django again."""
        configure_django(url)
