"""Attacks on the anonymous web chat (/chat): numbers that spin a server thread, messages that spend
the model without bound (no cookie, many cookies, many workers), and a cookie kept as a credential.

Each attack is sent as an anonymous visitor sends it: plain HTTP, with or without the cookie.
"""
from __future__ import annotations

import os
import signal
import time
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.support.waiting import wait_until

HEADERS = {"X-Requested-With": "smartbot"}
REDIS_URL = "redis://127.0.0.1:6379/13"


def _post(url: str, text: str, session: requests.Session | None = None, **kw: Any) -> requests.Response:
    """A web chat message; with no session, a visitor who sends no cookie at all."""
    send = session.post if session is not None else requests.post
    return send(url + "/chat/api/messages", json={"text": text}, headers={**HEADERS, **kw.pop("headers", {})},
                timeout=10, **kw)


def _away_from_window_end(seconds: int, margin: float) -> None:
    """Fixed counting windows: start an attack well inside one, so it is counted in one window."""
    left = seconds - time.time() % seconds
    if left < margin:
        time.sleep(left + 0.2)


@pytest.mark.parametrize("query", ["wait=nan", "wait=inf", "wait=-inf", "wait=1e308", "wait=-1", "wait=NaN",
                                   f"after={10**23}", "after=2147483648", "after=-1", "after=abc", "after=1.5",
                                   "after=nan"])
def test_web_chat_refuses_numbers_that_are_not_finite_or_out_of_range(target, query):
    app = target()
    started = time.monotonic()
    resp = requests.get(app.url + f"/chat/api/messages?after=0&{query}" if query.startswith("wait")
                        else app.url + f"/chat/api/messages?{query}&wait=0", timeout=5)
    assert time.monotonic() - started < 2
    assert resp.status_code == 400, resp.text
    name = query.split("=")[0]
    assert name in resp.json()["error"] and "from 0 to" in resp.json()["error"]


def test_the_largest_values_in_range_are_answered(target):
    app = target()
    resp = requests.get(app.url + "/chat/api/messages?after=2147483647&wait=0.1", timeout=5)
    assert resp.status_code == 200 and resp.json() == {"messages": [], "last": 2147483647, "previews": []}


def test_nan_waits_do_not_spin_the_workers_threads(target):
    app = target(server={"threads": 4})
    url = app.url + "/chat/api/messages?after=0&wait=nan"

    def attack(_: int) -> int:
        try:
            return requests.get(url, timeout=3, headers={"Connection": "close"}).status_code
        except requests.RequestException:
            return -1                            # the thread it took is still spinning
    with ThreadPoolExecutor(20) as pool:
        statuses = list(pool.map(attack, range(20)))
    assert statuses == [400] * 20
    started = time.monotonic()
    normal = requests.get(app.url + "/chat/api/messages?after=0&wait=0", timeout=5)
    assert normal.status_code == 200 and normal.json() == {"messages": [], "last": 0, "previews": []}
    assert time.monotonic() - started < 1.0
    assert "Traceback" not in app.app.log()


def test_cookieless_messages_from_one_address_reach_the_model_at_most_the_address_limit(target, fake_model):
    limit = 5
    app = target(webchat={"messages_per_minute_per_address": limit})
    _away_from_window_end(60, 15)
    answers = [_post(app.url, f"hello {i}") for i in range(30)]     # no cookie: each gets a new chat
    accepted = [r for r in answers if r.status_code == 202]
    refused = [r for r in answers if r.status_code == 429]
    assert len(accepted) == limit and len(refused) == 30 - limit
    assert all("address" in r.json()["error"] and 0 < int(r.headers["Retry-After"]) <= 60 for r in refused)
    assert wait_until(lambda: fake_model.calls() >= limit, 15)
    time.sleep(1.0)                              # nothing more arrives at the model
    assert fake_model.calls() == limit
    rows = app.audit("webchat.refused")
    assert len(rows) == 1                        # the first refusal per address and minute
    assert rows[0]["actor"] == "127.0.0.1" and rows[0]["details"]["limit"] == "address"


def test_a_chat_keeps_its_own_limit_beside_the_address_limit(target):
    app = target(webchat={"messages_per_minute_per_chat": 2, "messages_per_minute_per_address": 50})
    _away_from_window_end(60, 10)
    visitor = requests.Session()
    statuses = [_post(app.url, f"m{i}", visitor).status_code for i in range(4)]
    assert statuses == [202, 202, 429, 429]
    other = requests.Session()
    assert _post(app.url, "another visitor", other).status_code == 202


def test_the_address_is_the_clients_behind_a_trusted_proxy(target):
    app = target(webchat={"messages_per_minute_per_address": 2}, security={"trusted_proxies": 1})
    _away_from_window_end(60, 10)
    first = [_post(app.url, "hi", headers={"X-Forwarded-For": "198.51.100.7"}).status_code for _ in range(3)]
    second = _post(app.url, "hi", headers={"X-Forwarded-For": "198.51.100.8"}).status_code
    assert first == [202, 202, 429] and second == 202
    assert [row["actor"] for row in app.audit("webchat.refused")] == ["198.51.100.7"]


def _redis_or_skip() -> None:
    import redis

    try:
        redis.Redis.from_url(REDIS_URL, socket_timeout=1, socket_connect_timeout=1).flushdb()
    except redis.RedisError as exc:
        pytest.skip(f"Redis at {REDIS_URL} is not reachable: {exc}")


@pytest.mark.parametrize("shared", ["database", "redis"])
def test_the_guest_budget_holds_across_two_gunicorn_workers(target, fake_model, shared):
    """One worker at a time is stopped (SIGSTOP), so each half of the attack is served by the other:
    counts kept per process would let each worker spend the whole budget."""
    budget = 4
    overrides: dict[str, Any] = {"webchat": {"guest_messages_per_hour": budget,
                                             "messages_per_minute_per_address": 100},
                                 "jobs": {"sweep_seconds": 30.0}}       # idle workers hold no database lock
    if shared == "redis":
        _redis_or_skip()
        overrides["cache"] = {"url": REDIS_URL}
    app = target(**overrides)
    _away_from_window_end(3600, 30)
    pids = app.app.worker_pids()
    assert len(pids) == 2
    statuses: list[int] = []
    for stopped in pids:
        with app.db.write():    # frozen between two writes, never inside one the other worker would wait for
            os.kill(stopped, signal.SIGSTOP)
        try:
            statuses += [_post(app.url, f"from a new visitor {i}", headers={"Connection": "close"}).status_code
                         for i in range(3)]
        finally:
            os.kill(stopped, signal.SIGCONT)
        # The worker that took them answers them before it is stopped in turn (no write left half done).
        assert wait_until(lambda: _replies_delivered(app) == statuses.count(202), 15)
    assert statuses.count(202) == budget and statuses.count(429) == 6 - budget, statuses
    assert wait_until(lambda: fake_model.calls() >= budget, 15)
    time.sleep(0.5)
    assert fake_model.calls() == budget
    refusal = _post(app.url, "one more")
    assert refusal.status_code == 429 and "guest" in refusal.json()["error"]
    assert 0 < int(refusal.headers["Retry-After"]) <= 3600


def _replies_delivered(app: Any) -> int:
    from smartbot.storage.tables import Outbox

    outbox = Outbox.__table__
    with app.db.read() as conn:
        return conn.execute(sa.select(sa.func.count()).select_from(outbox).where(
            outbox.c.channel == "webchat", outbox.c.status == "done")).scalar_one()


def _replies(url: str, cookies: dict[str, str], want: int) -> list[str]:
    texts: list[str] = []
    last = 0
    deadline = time.monotonic() + 15
    while len(texts) < want and time.monotonic() < deadline:
        resp = requests.get(url + f"/chat/api/messages?after={last}&wait=2", cookies=cookies, timeout=10)
        assert resp.status_code == 200, resp.text
        data = resp.json()
        texts += [m["text"] for m in data["messages"]]
        last = data["last"]
    return texts


def test_the_cookie_is_reissued_while_in_use_and_keeps_the_chat(target, fake_model):
    app = target()
    visitor = requests.Session()
    assert visitor.get(app.url + "/chat", timeout=5).status_code == 200
    first = visitor.cookies.get("smartbot_chat")
    assert first
    set_cookie = visitor.get(app.url + "/chat/api/messages?after=0&wait=0", timeout=5).headers["Set-Cookie"]
    assert "HttpOnly" in set_cookie and "SameSite=Lax" in set_cookie and "Max-Age=" in set_cookie
    assert int(set_cookie.split("Max-Age=")[1].split(";")[0]) <= 7 * 86400
    time.sleep(1.1)                                  # a later issue time: a new value
    assert _post(app.url, "remember me", visitor).status_code == 202
    rotated = visitor.cookies.get("smartbot_chat")
    assert rotated and rotated != first
    # Only the rotated cookie, in a fresh client: the same chat and its history.
    assert _replies(app.url, {"smartbot_chat": rotated}, 1) == ["echo: remember me"]


def test_a_forged_or_tampered_chat_cookie_starts_a_new_chat(target, fake_model):
    app = target()
    visitor = requests.Session()
    assert _post(app.url, "private words", visitor).status_code == 202
    assert _replies(app.url, dict(visitor.cookies), 1) == ["echo: private words"]
    value = visitor.cookies.get("smartbot_chat")
    tampered = value[:-2] + ("AA" if not value.endswith("AA") else "BB")
    resp = requests.get(app.url + "/chat/api/messages?after=0&wait=0", cookies={"smartbot_chat": tampered},
                        timeout=5)
    assert resp.status_code == 200 and resp.json()["messages"] == []
    assert resp.cookies.get("smartbot_chat") not in (None, value, tampered)
