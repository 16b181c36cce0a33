"""Bounded caches a Fetcher keeps for its process: robots.txt per origin and DNS answers."""
from __future__ import annotations

import threading
import time
from typing import Callable, Hashable

from cachetools import TTLCache


class BoundedCache:
    """At most `size` entries, least recently used evicted first, each kept at most `ttl`
    seconds; thread-safe. Size 0 or ttl 0 keeps nothing."""

    def __init__(self, size: int, ttl: float, timer: Callable[[], float] = time.monotonic):
        self.size = size
        self._entries = TTLCache(maxsize=size, ttl=ttl, timer=timer) if size > 0 and ttl > 0 else None
        self._lock = threading.Lock()

    def __len__(self) -> int:
        with self._lock:
            return 0 if self._entries is None else len(self._entries)

    def get(self, key: Hashable):
        if self._entries is None:
            return None
        with self._lock:
            return self._entries.get(key)

    def put(self, key: Hashable, value) -> None:
        if self._entries is not None:
            with self._lock:
                self._entries[key] = value

    def setdefault(self, key: Hashable, make: Callable[[], object]) -> tuple[object, bool]:
        """(the cached value, False), or (make(), True) after caching it; atomic."""
        if self._entries is None:
            return make(), True
        with self._lock:
            value = self._entries.get(key)
            if value is not None:
                return value, False
            value = self._entries[key] = make()
            return value, True
