"""Short-lived shared state: the local store, the Redis store (when the tests have a Redis), the
database's counters (without Redis), and two nodes sharing cached answers and rate limits."""
from __future__ import annotations

import os
import time
import uuid

import pytest

import sqlalchemy as sa

from smartbot.storage.shared_state import DatabaseStore, LocalStore, RedisStore, open_store

REDIS_URL = os.environ.get("SMARTBOT_TEST_REDIS_URL")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="needs SMARTBOT_TEST_REDIS_URL (Redis); .ci/run sets it")


def _stores():
    stores = [pytest.param(LocalStore, id="local")]
    stores.append(pytest.param(lambda: RedisStore(REDIS_URL), id="redis", marks=needs_redis))
    return stores


@pytest.mark.parametrize("make", _stores())
def test_counts_and_values_expire(make):
    store = make()
    key = f"test:{uuid.uuid4().hex}"
    assert [store.incr(key, 0.5) for _ in range(3)] == [1, 2, 3]
    assert store.count(key) == 3
    store.set(key + ":v", b"answer", 0.5)
    assert store.get(key + ":v") == b"answer"
    time.sleep(0.7)
    assert store.count(key) == 0 and store.get(key + ":v") is None
    assert store.incr(key, 0.5) == 1
    store.delete(key)
    assert store.count(key) == 0


@pytest.mark.parametrize("make", _stores())
def test_a_member_takes_its_place_in_a_window_once(make):
    store = make()
    key = f"test:{uuid.uuid4().hex}"
    assert [store.place(key, m, 0.5) for m in ("a", "b", "a", "c", "b")] == [1, 2, 1, 3, 2]
    time.sleep(0.7)
    assert store.place(key, "c", 0.5) == 1, "a window that ended starts again"


def test_redis_down_falls_back_to_memory_without_failing():
    store = RedisStore("redis://127.0.0.1:1/0")          # nothing listens on port 1
    assert store.incr("k", 5) == 1 and store.incr("k", 5) == 2
    store.set("v", b"x", 5)
    assert store.get("v") == b"x"


def test_no_url_means_memory():
    assert isinstance(open_store(""), LocalStore)


def test_without_redis_every_process_counts_in_the_database(db):
    from smartbot.storage.db import Database

    other_process = Database(db.url)          # its own engine and pool, as another gunicorn worker has
    try:
        one, two = open_store("", db), DatabaseStore(other_process)
        assert isinstance(one, DatabaseStore)
        key = f"test:{uuid.uuid4().hex}"
        assert [one.incr(key, 0.5), two.incr(key, 0.5), one.incr(key, 0.5)] == [1, 2, 3]
        assert one.count(key) == two.count(key) == 3
        long_key = "chat-rate:generic:" + "u" * 400       # a platform's long user id
        assert [one.incr(long_key, 5), two.incr(long_key, 5)] == [1, 2]
        window = f"test:{uuid.uuid4().hex}"
        assert [one.place(window, "m1", 5), two.place(window, "m2", 5), two.place(window, "m1", 5),
                one.place(window, "m" * 300, 5), two.place(window, "m" * 300, 5)] == [1, 2, 1, 3, 3]
        short = f"test:{uuid.uuid4().hex}"
        assert [one.place(short, "a", 0.5), two.place(short, "b", 0.5)] == [1, 2]
        one.set("v", b"cached answer", 5)                   # values stay in each process's memory
        assert one.get("v") == b"cached answer" and two.get("v") is None
        time.sleep(0.7)
        assert one.count(key) == 0 and two.incr(key, 0.5) == 1      # a new window
        assert two.place(short, "b", 0.5) == 1, "a window that ended starts again"
        two.delete(key)
        assert one.count(key) == 0
    finally:
        other_process.dispose()


def test_expired_counters_are_purged(db):
    from smartbot.storage.tables import SharedCounter

    store = DatabaseStore(db)
    for i in range(5):
        store.incr(f"short:{i}", 0.1)
    time.sleep(0.3)
    store._next_purge = 0.0                   # the once-a-minute purge is due
    store.incr("long", 60)
    with db.read() as conn:
        keys = conn.execute(sa.select(SharedCounter.__table__.c.key)).scalars().all()
    assert keys == ["long"]


def test_a_database_that_cannot_count_falls_back_to_memory(tmp_path):
    from smartbot.storage.db import Database

    unmigrated = Database(f"sqlite:///{tmp_path / 'empty.db'}")      # no shared_counters table
    try:
        store = DatabaseStore(unmigrated)
        assert [store.incr("k", 5), store.incr("k", 5)] == [1, 2]
        assert store.count("k") == 2
        assert [store.place("w", "a", 5), store.place("w", "b", 5), store.place("w", "a", 5)] == [1, 2, 1]
        store.delete("k")
        assert store.count("k") == 0
    finally:
        unmigrated.dispose()


@needs_redis
def test_two_nodes_share_cached_answers_and_rate_limits(live_app, make_config, fake_model, fake_platform):
    cache = {"url": REDIS_URL}
    routes = [{"name": "faq", "provider": "main", "match": {"prefix": "faq"}, "cache_ttl": 60}]
    one = live_app(make_config(model=fake_model, cache=cache, model_routes=routes))
    two = live_app({**one.config})
    question = f"faq: opening hours {uuid.uuid4().hex}?"       # unique per run: Redis outlives tests
    for count, (app, event) in enumerate(((one, "q1"), (two, "q2")), start=1):
        assert app.post_generic({"event_id": event, "chat_id": event, "user_id": event, "text": question}).ok
        fake_platform.wait_for(count)                       # the first answer is cached before the second asks
    assert fake_model.calls() == 1                          # the second node answered from the shared cache
    assert len({r["json"]["text"] for r in fake_platform.received}) == 1
