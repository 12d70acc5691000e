"""Short-lived state that every node should see alike: cached model answers, rate-limit counters.

With a Redis URL (`[cache] url`) both live in Redis, so a cached FAQ answer, a web chat limit or a
login back-off counts across every process and node. Besides plain counters (`incr`), a window can
count each of its members once (`place`): a chat message handled twice takes its sender's minute
once, and finds the same place the second time. Without one, counters live in the database
(`DatabaseStore`: one UPSERT per count), so they still hold across the gunicorn workers of a node,
and cached answers stay in each process's memory (bounded, expiring). Neither Redis nor the
database being unable to count ever stops a message: the store falls back to this process's memory
for that call and says so in the log once.
"""
from __future__ import annotations

import hashlib
import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from cachetools import TLRUCache

from .db import dialect_insert

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

    def place(self, key: str, member: str, ttl: float) -> int:
        """The member's place among the members counted in the window that started with the key's
        first member (1 for the first); the same place on every call for the same member."""
        with self._lock:
            expires, places = self._data.get(key) or (time.monotonic() + ttl, {})
            if member not in places:
                places[member] = len(places) + 1
                self._data[key] = (expires, places)
            return places[member]

    def delete(self, key: str) -> None:
        with self._lock:
            self._data.pop(key, None)


# A member's place in a window: looked up, else the next one taken; one script, so two nodes asking
# for the same member at once get the same place.
_PLACE_SCRIPT = """
local place = redis.call('HGET', KEYS[1], ARGV[1])
if place then return tonumber(place) end
place = redis.call('HLEN', KEYS[1]) + 1
redis.call('HSET', KEYS[1], ARGV[1], place)
if place == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
return place
"""


class RedisStore:
    """The same, in Redis; any Redis failure falls back to a local store for that call."""

    def __init__(self, url: str) -> None:
        import redis

        self._redis = redis.Redis.from_url(url, socket_timeout=0.5, socket_connect_timeout=0.5)
        self._place = self._redis.register_script(_PLACE_SCRIPT)
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

    def place(self, key: str, member: str, ttl: float) -> int:
        try:
            return int(self._place(keys=[PREFIX + key], args=[member, max(1, int(ttl * 1000))]))
        except Exception as exc:
            self._failed(exc)
            return self._fallback.place(key, member, ttl)

    def delete(self, key: str) -> None:
        try:
            self._redis.delete(PREFIX + key)
        except Exception as exc:
            self._failed(exc)
            self._fallback.delete(key)


class DatabaseStore:
    """Counters in the database's `shared_counters` table, seen alike by every process on it; values
    (cached answers) in this process's memory. Expired counters are purged once a minute per process."""

    PURGE_SECONDS = 60.0

    def __init__(self, db: Any, max_entries: int = 20000) -> None:
        from .tables import SharedCounter

        self._db = db
        self._table = SharedCounter.__table__
        self._memory = LocalStore(max_entries)
        self._count_up = _count_up_statement(db, self._table)
        self._claim = _claim_statement(db, self._table)
        self._set_place = (sa.update(self._table).where(self._table.c.key == sa.bindparam("member"))
                           .values(hits=sa.bindparam("place")))
        self._relaxed_commit = db.dialect == "postgresql"
        self._next_purge = 0.0
        self._warned = False

    def _failed(self, exc: Exception) -> None:
        if not self._warned:
            log.warning("the database could not count (%s); counting in this process's memory meanwhile",
                        type(exc).__name__)
            self._warned = True

    def get(self, key: str) -> bytes | None:
        return self._memory.get(key)

    def set(self, key: str, value: bytes, ttl: float) -> None:
        self._memory.set(key, value, ttl)

    def count(self, key: str) -> int:
        table = self._table
        try:
            with self._db.read() as conn:
                hits = conn.execute(sa.select(table.c.hits).where(table.c.key == _row_key(key),
                                                                  table.c.expires_at > time.time())).scalar()
        except Exception as exc:  # the database being busy or full never stops a request
            self._failed(exc)
            return self._memory.count(key)
        return int(hits or 0)

    def incr(self, key: str, ttl: float) -> int:
        now = time.time()
        params = {"counter": _row_key(key), "now": now, "until": now + ttl}

        def count_up(conn: Any) -> int:
            self._prepare(conn, now)
            return int(conn.execute(self._count_up, params).scalar_one())
        try:
            return self._db.run_write(count_up)
        except Exception as exc:
            self._failed(exc)
            return self._memory.incr(key, ttl)

    def place(self, key: str, member: str, ttl: float) -> int:
        """A member is a row of its own (`<key>#<member>`) holding its place: the first to claim it
        counts the window up; whoever claims it again (another process waits for the first one's
        transaction on PostgreSQL) reads the place back."""
        now = time.time()
        window = {"counter": _row_key(key), "now": now, "until": now + ttl}
        claim = {"member": _row_key(f"{key}#{member}"), "now": now, "until": now + ttl}

        def take_place(conn: Any) -> int:
            self._prepare(conn, now)
            held = int(conn.execute(self._claim, claim).scalar_one())
            if held:
                return held
            place = int(conn.execute(self._count_up, window).scalar_one())
            conn.execute(self._set_place, {"member": claim["member"], "place": place})
            return place
        try:
            return self._db.run_write(take_place)
        except Exception as exc:
            self._failed(exc)
            return self._memory.place(key, member, ttl)

    def _prepare(self, conn: Any, now: float) -> None:
        if self._relaxed_commit:     # a count lost in a crash costs nothing; waiting for the disk does
            conn.execute(sa.text("SET LOCAL synchronous_commit = off"))
        if now >= self._next_purge:
            self._next_purge = now + self.PURGE_SECONDS
            conn.execute(sa.delete(self._table).where(self._table.c.expires_at <= now))

    def delete(self, key: str) -> None:
        try:
            self._db.run_write(lambda conn: conn.execute(sa.delete(self._table)
                                                         .where(self._table.c.key == _row_key(key))))
        except Exception as exc:
            self._failed(exc)
            self._memory.delete(key)


def _count_up_statement(db: Any, table: sa.Table) -> Any:
    """INSERT a counter at 1, or add one to it; a counter whose window ended starts again at 1.
    Both databases evaluate every SET expression on the row as it was, and return the new count."""
    stmt = dialect_insert(db.dialect)(table).values(key=sa.bindparam("counter"), hits=1, expires_at=sa.bindparam("until"))
    ended = table.c.expires_at <= sa.bindparam("now")
    return stmt.on_conflict_do_update(index_elements=[table.c.key], set_={
        "hits": sa.case((ended, 1), else_=table.c.hits + 1),
        "expires_at": sa.case((ended, stmt.excluded.expires_at), else_=table.c.expires_at),
    }).returning(table.c.hits)


def _claim_statement(db: Any, table: sa.Table) -> Any:
    """INSERT a member's row at 0 (not placed yet), or return the place it holds; a row whose window
    ended is claimed again at 0. Returns the place (0: the caller takes the next one)."""
    stmt = dialect_insert(db.dialect)(table).values(key=sa.bindparam("member"), hits=0, expires_at=sa.bindparam("until"))
    ended = table.c.expires_at <= sa.bindparam("now")
    return stmt.on_conflict_do_update(index_elements=[table.c.key], set_={
        "hits": sa.case((ended, 0), else_=table.c.hits),
        "expires_at": sa.case((ended, stmt.excluded.expires_at), else_=table.c.expires_at),
    }).returning(table.c.hits)


def _row_key(key: str) -> str:
    """Keys fit the column: a long one (a platform's long user id) keeps its start and a digest."""
    if len(key) <= 200:
        return key
    return key[:135] + ":" + hashlib.sha256(key.encode()).hexdigest()


def open_store(url: str, db: Any = None) -> Any:
    """Redis when `[cache] url` is set; else counters in `db` (memory alone when there is none)."""
    if not url:
        return DatabaseStore(db) if db is not None else LocalStore()
    try:
        return RedisStore(url)
    except ImportError:
        from ..errors import ConfigError

        raise ConfigError("cache.url", "a Redis URL needs the redis package",
                          "pip install 'smartbot[scale]' (or leave [cache] url empty)") from None
