"""Time-ordered UUIDs for event ids.

A UUIDv7 (RFC 9562) starts with the Unix time in milliseconds, so new ids land
at the right-hand edge of the primary-key B-tree instead of at random pages,
and ids are unique across the live and archive tables without a shared sequence.
Within one process ids are also strictly increasing: inside the same
millisecond the 74 random bits are incremented (RFC 9562 §6.2, method 2).
"""

from __future__ import annotations

import os
import threading
import time
import uuid

__all__ = ["uuid7"]

_RANDOM_BITS = 74
_lock = threading.Lock()
_last = (0, 0)  # (milliseconds, random part) of the previous id


def uuid7() -> uuid.UUID:
    """Return a new version-7 UUID, greater than any this process made before."""
    global _last
    with _lock:
        millis = max(time.time_ns() // 1_000_000, _last[0])
        if millis == _last[0]:
            rand = _last[1] + 1 + int.from_bytes(os.urandom(2), "big")
            if rand >= 1 << _RANDOM_BITS:  # counter overflow: borrow the next millisecond
                millis, rand = millis + 1, int.from_bytes(os.urandom(9), "big") >> 2
        else:
            rand = int.from_bytes(os.urandom(10), "big") >> (80 - _RANDOM_BITS)
        _last = (millis, rand)
    value = (millis & ((1 << 48) - 1)) << 80
    value |= 0x7 << 76  # version
    value |= (rand >> 62) << 64  # rand_a: the top 12 random bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & ((1 << 62) - 1)  # rand_b: the low 62 random bits
    return uuid.UUID(int=value)
