"""WeCom in connect mode (an AI bot on its long connection) through the whole path: the app runs for
real (under gunicorn with two workers, or in this process) against the fake WeCom on loopback;
messages come over the websocket and the replies go back over it, exactly once."""
from __future__ import annotations

import os
import signal
import time
from typing import Any, Iterator

import pytest

from tests.support.connect_mode import (assert_refused_once, assert_webhook_closed_and_connected, connect_config,
                                         holder_pid)
from tests.support.fake_wecom_aibot import FakeWeComAiBot
from tests.support.platform_clients import quiet_for
from tests.support.recording_link import serving

BOT_ID, BOT_SECRET = "aibot_e2e", "aibot-e2e-secret"


@pytest.fixture
def wecom() -> Iterator[FakeWeComAiBot]:
    yield from serving(FakeWeComAiBot(BOT_ID, BOT_SECRET))


def _config(make_config: Any, fake_model: Any, wecom: FakeWeComAiBot) -> dict[str, Any]:
    return connect_config(make_config, fake_model, "wecom", bot_id=BOT_ID, bot_secret=BOT_SECRET,
                          aibot_url=wecom.ws_url)


def _message(msgid: str, text: str, chattype: str = "single") -> dict[str, Any]:
    body = {"msgid": msgid, "aibotid": BOT_ID, "chattype": chattype, "from": {"userid": "lisi"},
            "msgtype": "text", "text": {"content": text}}
    return {**body, "chatid": "wrkGroup1"} if chattype == "group" else body


def _replies(wecom: FakeWeComAiBot) -> list[tuple[str, str]]:
    return [(r["headers"]["req_id"], r["body"]["stream"]["content"]) for r in wecom.delivered]


def test_one_message_in_one_reply_out_under_gunicorn(gunicorn_app, make_config, fake_model, wecom):
    app = gunicorn_app(_config(make_config, fake_model, wecom), workers=2)
    req_id = wecom.message(_message("aibot-msg-1", "@智能助手 你好", chattype="group"))
    wecom.wait_delivered(1, timeout=20)
    quiet_for(1.0)
    assert _replies(wecom) == [(req_id, "echo: 你好")]
    wecom.assert_one_at_a_time()
    assert_webhook_closed_and_connected(app, "wecom", b"<xml/>")


def test_a_message_sent_twice_and_again_after_a_reconnect_is_answered_once(live_app, make_config, fake_model,
                                                                          wecom):
    live_app(_config(make_config, fake_model, wecom))
    first = wecom.message(_message("aibot-twice", "一次就好"))
    wecom.message(_message("aibot-twice", "一次就好"))
    assert len(wecom.wait_delivered(1)) == 1
    wecom.drop()
    assert wecom.wait(lambda: len(wecom.subscriptions()) == 2)
    wecom.message(_message("aibot-twice", "一次就好"))
    latest = wecom.message(_message("aibot-next", "下一条"))
    wecom.wait_delivered(2)
    quiet_for(1.0)
    assert _replies(wecom) == [(first, "echo: 一次就好"), (latest, "echo: 下一条")]
    wecom.assert_one_at_a_time()


def test_malformed_frames_are_dropped_audited_once_and_the_connection_kept(live_app, make_config, fake_model,
                                                                          wecom):
    config = _config(make_config, fake_model, wecom)
    config["audit"] = {"refusal_audit_interval": 60.0}
    app = live_app(config)
    wecom.message({"msgid": "no-sender", "chattype": "single", "msgtype": "text", "text": {"content": "x"}})
    wecom.push("not json")
    wecom.message({**_message("forged", "冒充"), "aibotid": "another_bot"})
    req_id = wecom.message(_message("aibot-real", "真的"))
    wecom.wait_delivered(1)
    assert _replies(wecom) == [(req_id, "echo: 真的")]
    assert_refused_once(app, "wecom", BOT_SECRET)
    assert wecom.opened == 1


def test_kill_9_of_the_holder_the_new_holder_answers_what_the_dead_one_had_stored(
        gunicorn_app, make_config, fake_model, wecom, database_url):
    """Messages the dead holder stored but had not answered are answered by the process that takes the
    connection over: a reply recovered by a process without the connection is handed back (queued,
    its attempt not counted) until the process holding it takes it."""
    app = gunicorn_app(_config(make_config, fake_model, wecom), workers=2)
    for i in range(4):
        wecom.message(_message(f"aibot-kill-{i}", f"第{i}条"))
    assert len(wecom.wait_delivered(4, timeout=30)) == 4
    quiet_for(1.0)
    holder = holder_pid(database_url, "wecom")
    assert holder in app.worker_pids()
    fake_model.delay = 2.0
    for i in range(4, 8):
        wecom.message(_message(f"aibot-kill-{i}", f"第{i}条"))
    assert wecom.wait(lambda: len(fake_model.requests) >= 5, 10)      # stored, and the model is answering
    os.kill(holder, signal.SIGKILL)
    killed_at = time.time()
    assert wecom.wait(lambda: len(wecom.subscriptions()) >= 2, 20) and time.time() - killed_at < 10
    fake_model.delay = 0.0
    for i in range(8, 10):
        wecom.message(_message(f"aibot-kill-{i}", f"第{i}条"))
    wecom.wait_delivered(10, timeout=90)
    quiet_for(2.0)
    assert sorted(r["body"]["stream"]["content"] for r in wecom.delivered) == sorted(
        f"echo: 第{i}条" for i in range(10))
    wecom.assert_one_at_a_time()
