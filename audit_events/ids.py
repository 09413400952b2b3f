"""Time-ordered UUIDs for event ids.

A UUIDv7 (RFC 9562) starts with the Unix time in milliseconds, so new ids land
at the right-hand edge of the primary-key B-tree instead of at random pages,
and ids are unique across the live and archive tables without a shared sequence.
"""

from __future__ import annotations

import os
import time
import uuid

__all__ = ["uuid7"]


def uuid7() -> uuid.UUID:
    """Return a new version-7 UUID (48-bit millisecond timestamp, 74 random bits)."""
    millis = time.time_ns() // 1_000_000
    rand = int.from_bytes(os.urandom(10), "big")
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= ((rand >> 62) & 0xFFF) << 64  # rand_a: 12 bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b: 62 bits
    return uuid.UUID(int=value)
