"""Short-lived state that every node should see alike: cached model answers, rate-limit counters.

Without `[cache] url` it lives in this process (bounded, expiring). With a Redis URL it lives in
Redis, so a cached FAQ answer, a webchat rate limit or a login back-off counts across every
process and node. Redis being down never stops a message: the store falls back to this process's
memory and says so in the log once.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from cachetools import TLRUCache

log = logging.getLogger(__name__)
PREFIX = "smartbot:"


class LocalStore:
    """In-process store: at most `max_entries` keys, each expiring after its own TTL."""

    def __init__(self, max_entries: int = 20000) -> None:
        self._data: TLRUCache = TLRUCache(maxsize=max_entries, ttu=lambda _key, value, now: value[0])
        self._lock = threading.Lock()

    def get(self, key: str) -> bytes | None:
        with self._lock:
            item = self._data.get(key)
        return None if item is None else item[1]

    def set(self, key: str, value: bytes, ttl: float) -> None:
        with self._lock:
            self._data[key] = (time.monotonic() + ttl, value)

    def count(self, key: str) -> int:
        """The current count of a key that `incr` counts (0 when unknown or expired)."""
        with self._lock:
            item = self._data.get(key)
        return int(item[1]) if item is not None else 0

    def incr(self, key: str, ttl: float) -> int:
        """Count one more in the window that started with the key's first hit."""
        with self._lock:
            expires, count = self._data.get(key) or (time.monotonic() + ttl, 0)
            self._data[key] = (expires, count + 1)
            return count + 1

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


class RedisStore:
    """The same, in Redis; any Redis failure falls back to a local store for that call."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._fallback = LocalStore()
        self._warned = False

    def _failed(self, exc: Exception) -> None:
        if not self._warned:
            log.warning("Redis at [cache] url is not answering (%s); using this process's memory meanwhile",
                        type(exc).__name__)
            self._warned = True

    def get(self, key: str) -> bytes | None:
        try:
            return self._redis.get(PREFIX + key)
        except Exception as exc:  # redis raises many kinds; none may stop a message
            self._failed(exc)
            return self._fallback.get(key)

    def set(self, key: str, value: bytes, ttl: float) -> None:
        try:
            self._redis.set(PREFIX + key, value, px=max(1, int(ttl * 1000)))
        except Exception as exc:
            self._failed(exc)
            self._fallback.set(key, value, ttl)

    def count(self, key: str) -> int:
        try:
            return int(self._redis.get(PREFIX + key) or 0)
        except Exception as exc:
            self._failed(exc)
            return self._fallback.count(key)

    def incr(self, key: str, ttl: float) -> int:
        try:
            pipe = self._redis.pipeline()
            pipe.incr(PREFIX + key)
            pipe.pexpire(PREFIX + key, max(1, int(ttl * 1000)), nx=True)
            return int(pipe.execute()[0])
        except Exception as exc:
            self._failed(exc)
            return self._fallback.incr(key, ttl)

    def delete(self, key: str) -> None:
        try:
            self._redis.delete(PREFIX + key)
        except Exception as exc:
            self._failed(exc)
            self._fallback.delete(key)


def open_store(url: str) -> Any:
    if not url:
        return LocalStore()
    try:
        return RedisStore(url)
    except ImportError:
        from .errors import ConfigError

        raise ConfigError("cache.url", "a Redis URL needs the redis package",
                          "pip install 'smartbot[scale]' (or leave [cache] url empty)") from None
