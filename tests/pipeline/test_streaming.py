"""Streamed replies through the whole path: a web chat message answered by a model that streams.
While the model writes, the text so far is readable from any process (previews.current); the
final reply replaces it, exactly once, whatever happens to the stream or to the worker."""
from __future__ import annotations

import itertools
import time

import pytest
import requests
import sqlalchemy as sa

from smartbot.i18n import t
from smartbot.pipeline import previews
from smartbot.storage.tables import MessagePreview, ModelUsage, Outbox
from tests.support.fake_model import FakeModel, sse
from tests.support.fake_ollama import FakeOllama
from tests.support.waiting import wait_until

WORDS = [f"w{i} " for i in range(20)]
WRITTEN = "".join(WORDS).strip()


class Visitor:
    """One browser on the web chat: sends messages and reads the replies the page would show."""

    def __init__(self, app) -> None:
        self.app = app
        self.session = requests.Session()
        assert self.session.get(app.url + "/chat", timeout=10).status_code == 200

    def say(self, text: str) -> str:
        """Send `text`; its event id (its end, the client id, is what replies name as `reply_to`)."""
        resp = self.session.post(self.app.url + "/chat/api/messages", json={"text": text},
                                 headers={"X-Requested-With": "smartbot"}, timeout=10)
        assert resp.status_code == 202, resp.text
        return resp.json()["event_id"]

    def replies_to(self, event_id: str) -> list[str]:
        """The page names the message a reply answers by its own client id (the event id's end)."""
        data = self.session.get(self.app.url + "/chat/api/messages?after=0&wait=0", timeout=10).json()
        return [m["text"] for m in data["messages"] if m["reply_to"] == event_id.split(":", 1)[1]]

    def reply_to(self, event_id: str, timeout: float = 20.0) -> str:
        assert wait_until(lambda: self.replies_to(event_id), timeout), f"no reply to {event_id}"
        return self.replies_to(event_id)[0]


def chat_key_of(event_id: str) -> str:
    return "webchat:" + event_id.split(":")[0]


def replies_stored(db, event_id: str) -> int:
    """Every reply row in the chat of a visitor who sent one message, delivered or not: one is the rule."""
    outbox = Outbox.__table__
    with db.read() as conn:
        return len(conn.execute(sa.select(outbox.c.id).where(outbox.c.order_key == chat_key_of(event_id))).all())


def test_the_reply_is_readable_from_another_process_while_it_is_written_then_replaced(gunicorn_app, make_config,
                                                                                       fake_model, db):
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    app = gunicorn_app(make_config(model=fake_model, channels={"webchat": {"stream_interval": 0.3}}))
    visitor = Visitor(app)
    event = visitor.say("write slowly")
    key = chat_key_of(event)
    seen: list[dict] = []

    def watch() -> bool:
        seen.extend(previews.current(db, key))
        return bool(visitor.replies_to(event))
    assert wait_until(watch, 20, every=0.02), app.log()
    texts = list(dict.fromkeys(p["text"] for p in seen))
    assert len(texts) >= 3, texts                               # it grew while the model wrote
    assert all(WRITTEN.startswith(text.strip()) for text in texts)
    assert len(texts) <= 2.0 / 0.3 + 2                          # throttled to the stream_interval
    assert {p["reply_to"] for p in seen} == {event} and all(p["updated"] > 0 for p in seen)
    assert visitor.reply_to(event) == WRITTEN
    assert previews.current(db, key) == []
    assert replies_stored(db, event) == 1


def test_a_worker_killed_mid_stream_still_answers_once_and_leaves_no_preview(gunicorn_app, make_config,
                                                                            fake_model, db):
    fake_model.script({"tokens": WORDS, "pace": 0.3})           # the first try is slow; we kill it midway
    app = gunicorn_app(make_config(model=fake_model), workers=2)
    visitor = Visitor(app)
    event = visitor.say("crash")
    assert wait_until(lambda: previews.current(db, chat_key_of(event)), 15), app.log()
    assert app.kill_workers()
    app.wait_ready(timeout=30)
    assert visitor.reply_to(event, timeout=40) == "echo: crash", app.log()
    time.sleep(1.0)
    assert visitor.replies_to(event) == ["echo: crash"] and replies_stored(db, event) == 1
    assert previews.current(db, chat_key_of(event)) == []
    assert fake_model.calls() == 2                  # the call that was cut, then the one that answered


def test_with_stream_off_there_is_no_preview_and_the_same_reply(live_app, make_config, fake_model, db):
    app = live_app(make_config(model=fake_model, channels={"webchat": {"stream": False}}))
    visitor = Visitor(app)
    assert visitor.reply_to(visitor.say("hello")) == "echo: hello"
    assert "stream" not in fake_model.requests[-1]["json"]


def test_channels_that_cannot_show_previews_are_answered_as_before(live_app, make_config, fake_model,
                                                                  fake_platform):
    from tests.support.chat import say

    app = live_app(make_config(model=fake_model))
    assert say(app, fake_platform, "hi", "ev-generic") == "echo: hi"
    assert "stream" not in fake_model.requests[-1]["json"]


def test_a_streamed_answer_is_counted_once(live_app, make_config, fake_model, db):
    app = live_app(make_config(model=fake_model))
    visitor = Visitor(app)
    assert visitor.reply_to(visitor.say("count me")) == "echo: count me"
    assert fake_model.requests[-1]["json"]["stream"] is True
    usage = ModelUsage.__table__
    with db.read() as conn:
        rows = conn.execute(sa.select(usage.c.calls, usage.c.prompt_tokens, usage.c.completion_tokens)).all()
    assert [tuple(r) for r in rows] == [(1, 10, 5)]


def test_an_error_mid_stream_ends_in_the_friendly_error_once(live_app, make_config, fake_model, db):
    fake_model.script({"tokens": ["half ", "an ", "answer "], "pace": 0.1, "cut": True})
    app = live_app(make_config(model=fake_model))
    visitor = Visitor(app)
    event = visitor.say("break")
    assert visitor.reply_to(event) == t("model.unavailable", "en")
    time.sleep(0.5)
    assert visitor.replies_to(event) == [t("model.unavailable", "en")] and replies_stored(db, event) == 1
    assert previews.current(db, chat_key_of(event)) == []
    assert fake_model.calls() == 1                  # text had been shown: no second try


def test_a_provider_failing_before_its_first_piece_gives_way_to_the_next(live_app, make_config, fake_model, db):
    backup = FakeOllama().start()
    try:
        fake_model.down = True
        config = make_config(model=fake_model)
        config["providers"][0]["max_retries"] = 0
        config["providers"].append({"name": "local", "kind": "ollama", "base_url": backup.base_url,
                                    "model": "llama-fake", "read_timeout": 5.0, "total_timeout": 8.0})
        config["models"] = {"default": "main", "fallback": ["local"]}
        app = live_app(config)
        visitor = Visitor(app)
        assert visitor.reply_to(visitor.say("anyone there?")) == "echo: anyone there?"
        assert backup.requests[-1]["json"]["stream"] is True
    finally:
        backup.stop()


def _piece(text: str) -> bytes:
    return sse({"model": "fake-1", "choices": [{"index": 0, "delta": {"content": text}, "finish_reason": None}]})


ABUSE = {
    "ten-megabytes": (lambda: {"chunks": itertools.repeat(_piece("x" * 1000), 10_000)}, "model.bad_answer"),
    "endless": (lambda: {"chunks": itertools.repeat(_piece("more ")), "pace": 0.02}, "model.timeout"),
    "malformed": (lambda: {"chunks": [b"data: {\"choices\": [{\"delta\": \n\n", b"data: [DONE]\n\n"]},
                  "model.bad_answer"),
}


@pytest.mark.parametrize("abuse", sorted(ABUSE))
def test_an_abusive_stream_ends_in_the_friendly_error_not_a_hang(live_app, make_config, fake_model, db, abuse):
    step, friendly = ABUSE[abuse]
    fake_model.script(step())
    config = make_config(model=fake_model)
    config["providers"][0].update(total_timeout=2.0, max_retries=0)
    app = live_app(config)
    visitor = Visitor(app)
    started = time.monotonic()
    event = visitor.say("abuse")
    assert visitor.reply_to(event) == t(friendly, "en")
    assert time.monotonic() - started < 10
    assert previews.current(db, chat_key_of(event)) == [] and replies_stored(db, event) == 1


def test_the_upkeep_purges_a_preview_a_crash_left_behind(live_app, make_config, db):
    app = live_app(make_config())
    fresh = previews.Preview(db, "webchat:c1", "c1:new", interval=1.0)
    fresh("still being written")
    stale = previews.Preview(db, "webchat:c1", "c1:old", interval=1.0)
    stale("left by a crash")
    table = MessagePreview.__table__
    with db.write() as conn:
        conn.execute(sa.update(table).where(table.c.reply_to == "c1:old")
                     .values(updated_at=time.time() - previews.STALE_SECONDS - 1))
    app.runtime.worker.purge()
    assert [p["reply_to"] for p in previews.current(db, "webchat:c1")] == ["c1:new"]


def test_the_web_chat_streams_unless_told_not_to_and_other_channels_do_not():
    from smartbot.settings.sections import Settings
    from smartbot.settings.schema import build
    from smartbot.channels.webchat import WebChatConfig

    assert previews.streaming(Settings(), "webchat").stream_interval == 1.0
    assert previews.streaming(Settings(), "generic") is None and previews.streaming(Settings(), "nowhere") is None
    off = Settings(channels={"webchat": build(WebChatConfig, {"stream": False}, "channels.webchat", {})})
    assert previews.streaming(off, "webchat") is None


def test_a_stream_interval_below_the_minimum_is_refused_naming_the_key():
    from smartbot.channels.webchat import WebChatConfig
    from smartbot.errors import ConfigError
    from smartbot.settings.schema import build

    with pytest.raises(ConfigError) as err:
        build(WebChatConfig, {"stream_interval": 0}, "channels.webchat", {})
    assert err.value.key == "channels.webchat.stream_interval"


def test_previews_are_written_at_most_once_per_interval_the_first_at_once(db):
    now = [100.0]
    preview = previews.Preview(db, "webchat:c2", "c2:1", interval=1.0, clock=lambda: now[0])

    def text() -> str:
        return "".join(p["text"] for p in previews.current(db, "webchat:c2"))
    preview("  ")
    assert text() == ""                             # nothing to show yet
    preview("Hello")
    assert text() == "  Hello"                      # the first text at once
    for at, piece in ((100.3, " wor"), (100.9, "ld")):
        now[0] = at
        preview(piece)
        assert text() == "  Hello"                  # within the interval: kept for the next write
    now[0] = 101.0
    preview("!")
    assert text() == "  Hello world!"
    with db.write() as conn:
        previews.clear(conn, "webchat:c2", "c2:1")
    assert previews.current(db, "webchat:c2") == []


def test_a_preview_that_cannot_be_written_costs_nothing_but_itself(tmp_path):
    from smartbot.storage.db import Database

    bare = Database(f"sqlite:///{tmp_path / 'no-tables.db'}")          # no message_previews table
    try:
        previews.Preview(bare, "webchat:c3", "c3:1", interval=1.0)("text")     # logged, not raised
    finally:
        bare.dispose()
