"""The web chat's conversation as its page reads it back: both sides in order, a page at a time,
starting afresh after /reset; the live feed that waits for replies, including ones another process
delivered; and what a visitor may not ask of either."""
from __future__ import annotations

import threading
import time

import pytest
import requests

from smartbot.storage.db import MAX_INTEGER
from tests.support.api_client import admin_api
from tests.webchat.visitors import Visitor, model_says, write_to_chat


def _texts(entries: list[dict]) -> list[tuple[str, str]]:
    return [(e["side"], e["text"]) for e in entries]


def test_the_history_holds_both_sides_in_order_with_times_and_reply_ids(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    visitor = Visitor(app.url)
    started = time.time()
    assert visitor.send("first", client_id="client-first").status_code == 202
    visitor.replies(1)
    visitor.say("second")
    data = visitor.history().json()
    assert _texts(data["messages"]) == [("me", "first"), ("bot", "echo: first"), ("me", "second"),
                                        ("bot", "echo: second")]
    assert data["older"] is None
    first, reply = data["messages"][:2]
    assert first["client_id"] == "client-first" and reply["reply_to"] == "client-first"
    assert reply["format"] == "markdown" and first["format"] == "plain"
    assert all(started - 1 <= e["at"] <= time.time() + 1 for e in data["messages"])
    assert data["last"] == int(data["messages"][-1]["id"][1:])


def test_the_history_pages_back_to_the_start_without_a_gap_or_a_repeat(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    visitor = Visitor(app.url)
    for i in range(7):
        visitor.say(f"m{i}")
    seen, before = [], None
    for _ in range(10):
        data = visitor.history(limit=3, **({"before": before} if before else {})).json()
        assert len(data["messages"]) <= 3
        seen = data["messages"] + seen
        before = data["older"]
        if before is None:
            break
    assert _texts(seen) == [pair for i in range(7) for pair in (("me", f"m{i}"), ("bot", f"echo: m{i}"))]
    assert len({e["id"] for e in seen}) == 14


def test_a_message_that_answers_nothing_is_in_the_history_and_the_feed(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    visitor = Visitor(app.url)
    visitor.say("hello")
    last = visitor.history().json()["last"]
    write_to_chat(app.runtime.db, visitor.chat_id, "workflow finished", "test:workflow:1")
    [pushed] = visitor.replies(1, after=last)
    assert pushed["text"] == "workflow finished" and pushed["reply_to"] == "" and pushed["side"] == "bot"
    assert _texts(visitor.history().json()["messages"])[-1] == ("bot", "workflow finished")


def test_after_a_reset_the_history_starts_empty_and_the_model_forgot(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    visitor = Visitor(app.url)
    visitor.say("the secret word is kumquat")
    marker = visitor.say("/reset")
    assert marker["new_conversation"] is True and marker["text"].startswith("Done")
    assert visitor.history().json() == {"messages": [], "older": None, "last": int(marker["id"][1:])}
    visitor.say("what was the word?")
    assert _texts(visitor.history().json()["messages"]) == [("me", "what was the word?"),
                                                            ("bot", "echo: what was the word?")]
    assert "kumquat" not in str(fake_model.requests[-1]["json"]["messages"])
    assert visitor.history(limit=1).json()["older"] is not None      # the reply: one page back is the question
    back = visitor.history(limit=1, before=visitor.history(limit=1).json()["older"]).json()
    assert _texts(back["messages"]) == [("me", "what was the word?")] and back["older"] is None


def test_a_message_sent_while_the_reset_waits_its_turn_is_kept(live_app, make_config, fake_model):
    """The visitor's next message is accepted before /reset is answered: it belongs after the reset."""
    app = live_app(make_config(model=fake_model))
    visitor = Visitor(app.url)
    visitor.say("before")
    fake_model.delay = 1.5
    assert visitor.send("slow question").status_code == 202       # holds the conversation's turn
    assert visitor.send("/reset").status_code == 202
    assert visitor.send("right after").status_code == 202
    last = visitor.history().json()["last"]
    replies = visitor.replies(3, after=last)
    assert [r.get("new_conversation", False) for r in replies] == [False, True, False]
    assert _texts(visitor.history().json()["messages"]) == [("me", "right after"), ("bot", "echo: right after")]


def test_each_visitor_reads_only_their_own_conversation(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    alice, bob = Visitor(app.url), Visitor(app.url)
    alice.say("alice's private words")
    own = bob.history(chat=alice.chat_id, chat_id=alice.chat_id).json()
    assert own["messages"] == [] and own["last"] == 0
    assert bob.poll(0, wait=0).json()["messages"] == []
    stranger = requests.get(app.url + "/chat/api/history", cookies={"smartbot_chat": "forged"}, timeout=10)
    assert stranger.status_code == 200 and stranger.json()["messages"] == []
    assert "alice" not in stranger.text


@pytest.mark.parametrize("query", ["before=abc", "before=1", "before=1.2.3", "before=-1.2", "before=1.-2",
                                   f"before={MAX_INTEGER + 1}.1", f"before=1.{10**12}", "before=1.5e3",
                                   "before=nan.nan", "before="])
def test_a_history_cursor_that_is_not_one_is_refused(live_app, make_config, query):
    app = live_app(make_config())
    resp = requests.get(app.url + "/chat/api/history?" + query, timeout=10)
    assert resp.status_code == 400 and "before must be" in resp.json()["error"]


@pytest.mark.parametrize("limit", ["0", "101", "-1", "abc", "1e2", "nan", "10.5", str(10**30), ""])
def test_a_history_limit_out_of_range_is_refused(live_app, make_config, limit):
    app = live_app(make_config())
    resp = requests.get(app.url + f"/chat/api/history?limit={limit}", timeout=10)
    assert resp.status_code == 400 and resp.json()["error"] == "limit must be a whole number from 1 to 100"


def test_one_history_answer_holds_at_most_a_hundred_entries(live_app, make_config):
    app = live_app(make_config())
    visitor = Visitor(app.url)
    for i in range(130):
        write_to_chat(app.runtime.db, visitor.chat_id, f"report {i}", f"test:report:{i}", delivered=True)
    everything = visitor.history(limit=100).json()
    assert len(everything["messages"]) == 100 and everything["older"] is not None
    assert everything["messages"][-1]["text"] == "report 129"
    assert len(visitor.history().json()["messages"]) == 30              # the page's own page size


def test_a_reply_another_process_delivered_ends_the_wait_without_a_wake_up(live_app, make_config):
    """No wake-up crosses processes: the waiting poll finds the reply when it looks again."""
    app = live_app(make_config())
    visitor = Visitor(app.url)
    timer = threading.Timer(1.0, write_to_chat, (app.runtime.db, visitor.chat_id, "from elsewhere", "test:x:1"),
                            {"delivered": True})
    started = time.monotonic()
    timer.start()
    data = visitor.poll(0, wait=10).json()
    took = time.monotonic() - started
    assert [m["text"] for m in data["messages"]] == ["from elsewhere"]
    assert 1.0 <= took < 9.0, took          # found by looking again, not at the end of the wait


def test_a_poll_finding_every_waiting_place_taken_answers_at_once_and_says_busy(live_app, make_config):
    app = live_app(make_config(server={"threads": 2}))                   # one waiting place
    first, second = Visitor(app.url), Visitor(app.url)
    waiting = threading.Thread(target=first.poll, args=(0, 3))
    waiting.start()
    time.sleep(0.5)
    started = time.monotonic()
    answer = second.poll(0, wait=10)
    assert time.monotonic() - started < 1.0
    assert answer.json() == {"messages": [], "last": 0, "previews": [], "busy": True}
    waiting.join()
    assert "busy" not in second.poll(0, wait=0.1).json()


def test_a_bound_visitor_is_told_their_users_name(live_app, make_config):
    app = live_app(make_config())
    visitor = Visitor(app.url)
    api = admin_api(app)
    uid = api.post("/users", {"name": "olga", "roles": ["user"]}).json()["id"]
    assert api.post("/identities", {"channel": "webchat", "platform_user_id": visitor.chat_id,
                                    "user_id": uid}).status_code == 201
    assert visitor.say("/whoami")["text"] == "olga (user)"


def test_the_model_answers_in_the_language_the_page_was_switched_to(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    visitor = Visitor(app.url)
    assert visitor.s.get(app.url + "/chat?lang=zh-CN", timeout=10).status_code == 200
    assert visitor.say("/whoami")["text"].splitlines()[1].startswith("尚未绑定到用户")
    fake_model.script(model_says("**ok**"))
    assert visitor.say("hi")["text"] == "**ok**"
