"""The platform's API fails while replies queue: 5xx, then 429 with Retry-After, then requests that
hang past our timeout. After it recovers every reply is delivered, once, and in order per chat (the
fake platform records arrival order); 429's Retry-After is honoured between attempts."""
from __future__ import annotations

import collections
import time

from tests.support.burst import message

CHATS = 4


def _send(app, first: int, count: int) -> list[str]:
    sent = []
    for i in range(first, first + count):
        payload = message(i, CHATS, "api")
        assert app.post_generic(payload).status_code == 200
        sent.append(payload["event_id"])
    return sent


def test_replies_queued_through_5xx_429_and_timeouts_all_arrive_in_order_per_chat(live_app, make_config,
                                                                                  fake_model, fake_platform):
    config = make_config(model=fake_model, jobs={"outbox_backoff_max": 2.0, "outbox_max_attempts": 30})
    config["channels"]["generic"].update(read_timeout=0.3)
    app = live_app(config)
    fake_platform.outage(503)
    sent = _send(app, 0, 16)
    time.sleep(1.5)
    fake_platform.outage(429, {"Retry-After": "2"})
    sent += _send(app, 16, 16)
    time.sleep(3.0)
    fake_platform.outage(504, stall=0.6)                   # hangs past the 0.3 s read timeout
    sent += _send(app, 32, 16)
    time.sleep(1.5)
    assert fake_platform.received == [], "something was delivered during the outage"
    fake_platform.recover()
    fake_platform.wait_for(len(sent), timeout=30)
    time.sleep(0.5)
    by_reply = collections.Counter(r["json"]["reply_to"] for r in fake_platform.received)
    assert set(by_reply) == set(sent) and set(by_reply.values()) == {1}, by_reply
    per_chat: dict[str, list[int]] = collections.defaultdict(list)
    for r in fake_platform.received:
        per_chat[r["json"]["chat_id"]].append(int(r["json"]["text"].removeprefix("echo: m")))
    assert len(per_chat) == CHATS
    for chat, numbers in per_chat.items():
        assert numbers == sorted(numbers), f"{chat} got its replies out of order: {numbers}"
    statuses = collections.Counter(a["status"] for a in fake_platform.log)
    assert statuses[503] and statuses[429] and statuses[504], statuses
    # after a 429 with Retry-After: 2, the same reply is not tried again sooner
    tries: dict[str, list[tuple[float, int]]] = collections.defaultdict(list)
    for a in fake_platform.log:
        tries[a["json"]["event_id"]].append((a["at"], a["status"]))
    gaps = [later[0] - earlier[0] for attempts in tries.values()
            for earlier, later in zip(attempts, attempts[1:]) if earlier[1] == 429]
    assert gaps and min(gaps) >= 1.9, sorted(gaps)[:5]


def test_a_stop_hands_back_replies_that_were_waiting_for_their_turn(live_app, make_config, fake_model,
                                                                  fake_platform):
    import sqlalchemy as sa

    app = live_app(make_config(model=fake_model, jobs={"outbox_backoff_max": 60.0}))
    fake_platform.outage(503)
    assert app.post_generic(message(0, 1, "stop")).status_code == 200
    assert fake_platform.wait_for(0, 0) == [] and _wait_attempted(fake_platform)
    db, owner = app.runtime.db, app.runtime.owner
    with db.write() as conn:          # leased to this process and waiting in its queue, as after a sweep
        conn.execute(sa.text("UPDATE outbox SET status = 'leased', owner = :o, lease_until = :t"),
                     {"o": owner, "t": time.time() + 300})
    app.runtime.runner.dispatch("outbox", [1], 30.0)
    app.stop()
    with db.read() as conn:
        row = conn.execute(sa.text("SELECT status, owner FROM outbox")).one()
    assert (row.status, row.owner) == ("queued", None), "the stopped process kept the reply's lease"


def _wait_attempted(platform, timeout: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout
    while not platform.log and time.monotonic() < deadline:
        time.sleep(0.05)
    return bool(platform.log)
