"""A doorbell between processes: one process rings a named bell, a process waiting on it wakes at once.

Over Redis pub/sub when the deployment has Redis (the Celery broker, or `[cache] url`); without it,
`wait` only sleeps, so the waiter polls. A ring is a hint, never the work itself: the work waits in
the database, and a ring that is lost (Redis down, nobody listening yet) costs at most the waiter's
poll interval. Bells are named per cluster (`[jobs] queue`), since Redis pub/sub channels are shared
by every database number on the server.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

log = logging.getLogger(__name__)

PREFIX = "smartbot:bell:"


class Bell:
    def __init__(self, redis_url: str, cluster: str) -> None:
        self._prefix = f"{PREFIX}{cluster}:"
        self._redis: Any = None
        self._pubsub: Any = None
        self._listening: frozenset[str] = frozenset()
        self._warned = False
        if redis_url:
            import redis

            self._redis = redis.Redis.from_url(redis_url, socket_timeout=2, socket_connect_timeout=2)

    def ring(self, name: str) -> None:
        if self._redis is None:
            return
        try:
            self._redis.publish(self._prefix + name, b"1")
        except Exception as exc:        # redis raises many kinds; a lost ring costs one poll interval
            self._failed(exc)

    def wait(self, names: set[str], timeout: float, stop: threading.Event) -> None:
        """Until one of `names` rings, `stop` is set, or `timeout` seconds passed. One thread waits."""
        if self._redis is None or not names:
            stop.wait(timeout)
            return
        try:
            self._listen(frozenset(names))
            if self._pubsub.get_message(ignore_subscribe_messages=True, timeout=timeout) is not None:
                while self._pubsub.get_message(ignore_subscribe_messages=True, timeout=0) is not None:
                    pass        # rings that came together wake the waiter once
        except Exception as exc:
            self._failed(exc)
            self._drop()
            stop.wait(timeout)

    def close(self) -> None:
        self._drop()
        if self._redis is not None:
            self._redis.close()

    def _listen(self, names: frozenset[str]) -> None:
        if self._pubsub is not None and names == self._listening:
            return
        self._drop()
        self._pubsub = self._redis.pubsub()
        self._pubsub.subscribe(*(self._prefix + name for name in sorted(names)))
        self._listening = names

    def _drop(self) -> None:
        if self._pubsub is not None:
            try:
                self._pubsub.close()
            except Exception:
                pass
        self._pubsub, self._listening = None, frozenset()

    def _failed(self, exc: Exception) -> None:
        if not self._warned:
            self._warned = True
            log.warning("Redis does not answer the bell (%s); waiters poll instead", type(exc).__name__)
