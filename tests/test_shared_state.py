"""Short-lived shared state: the local store, the Redis store (when the tests have a Redis), and
two nodes sharing cached answers and rate limits through Redis."""
from __future__ import annotations

import os
import time
import uuid

import pytest

from smartbot.shared_state import LocalStore, RedisStore, open_store

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


def test_redis_down_falls_back_to_memory_without_failing():
    store = RedisStore("redis://127.0.0.1:1/0")          # nothing listens on port 1
    assert store.incr("k", 5) == 1 and store.incr("k", 5) == 2
    store.set("v", b"x", 5)
    assert store.get("v") == b"x"


def test_no_url_means_memory():
    assert isinstance(open_store(""), LocalStore)


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
