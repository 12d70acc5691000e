"""DingTalk in connect mode (Stream) through the whole path: the app runs for real (under gunicorn
with two workers, or in this process) against the fake DingTalk Stream on loopback; callbacks come
over the websocket, replies go out through the session webhook, exactly once."""
from __future__ import annotations

import json
import os
import signal
import time
from typing import Any, Iterator

import pytest

from tests.support.connect_mode import (assert_refused_once, assert_webhook_closed_and_connected, connect_config,
                                         holder_pid)
from tests.support.fake_dingtalk_stream import FakeDingTalkStream
from tests.support.platform_clients import quiet_for
from tests.support.platform_requests import dingtalk_message
from tests.support.recording_link import serving
from tests.support.waiting import wait_until

APP_KEY, APP_SECRET = "dingapp_stream_e2e", "dingtalk-stream-e2e-secret"


@pytest.fixture
def dingtalk() -> Iterator[FakeDingTalkStream]:
    yield from serving(FakeDingTalkStream(APP_KEY, APP_SECRET))


def _config(make_config: Any, fake_model: Any, dingtalk: FakeDingTalkStream) -> dict[str, Any]:
    return connect_config(make_config, fake_model, "dingtalk", app_key=APP_KEY, app_secret=APP_SECRET,
                          api_base=dingtalk.url, session_webhook_hosts=[dingtalk.url])


def _message(dingtalk: FakeDingTalkStream, msg_id: str, text: str) -> dict[str, Any]:
    return dingtalk_message(conversationType="1", msgId=msg_id, text={"content": text},
                            sessionWebhook=dingtalk.session_webhook)


def _replies(dingtalk: FakeDingTalkStream) -> list[str]:
    return [r["json"]["markdown"]["text"] for r in dingtalk.delivered]


def test_one_message_in_one_reply_out_under_gunicorn(gunicorn_app, make_config, fake_model, dingtalk):
    app = gunicorn_app(_config(make_config, fake_model, dingtalk), workers=2)
    message_id = dingtalk.callback(_message(dingtalk, "msgE2E1", "你好 stream"))
    assert dingtalk.wait_ack(message_id)["code"] == 200
    assert [r["path"] for r in dingtalk.wait_delivered(1)] == [FakeDingTalkStream.SESSION_PATH]
    quiet_for(1.0)
    assert _replies(dingtalk) == ["echo: 你好 stream"]
    dingtalk.assert_one_at_a_time()
    assert_webhook_closed_and_connected(app, "dingtalk")


def test_a_callback_sent_twice_and_again_after_a_reconnect_is_answered_once(live_app, make_config, fake_model,
                                                                          dingtalk):
    live_app(_config(make_config, fake_model, dingtalk))
    message = _message(dingtalk, "msgTwice", "只回一次")
    dingtalk.wait_ack(dingtalk.callback(message))
    dingtalk.wait_ack(dingtalk.callback(message))           # resent under a new messageId, same msgId
    assert len(dingtalk.wait_delivered(1)) == 1
    dingtalk.drop()
    assert dingtalk.wait_connections(2)
    dingtalk.wait_ack(dingtalk.callback(message))
    dingtalk.wait_ack(dingtalk.callback(_message(dingtalk, "msgNew", "新的一条")))
    dingtalk.wait_delivered(2)
    quiet_for(1.0)
    assert _replies(dingtalk) == ["echo: 只回一次", "echo: 新的一条"]
    dingtalk.assert_one_at_a_time()


def test_malformed_frames_are_dropped_audited_once_and_the_connection_kept(live_app, make_config, fake_model,
                                                                          dingtalk, caplog):
    config = _config(make_config, fake_model, dingtalk)
    config["audit"] = {"refusal_audit_interval": 60.0}
    app = live_app(config)
    dingtalk.push("{not json")
    dingtalk.push(json.dumps({"type": "CALLBACK"}))
    bad = dingtalk.callback("[1, 2, 3]")
    assert dingtalk.wait_ack(bad)["code"] == 400
    dingtalk.wait_ack(dingtalk.callback(_message(dingtalk, "msgAfter", "还在吗")))
    dingtalk.wait_delivered(1)
    assert _replies(dingtalk) == ["echo: 还在吗"]
    assert_refused_once(app, "dingtalk", APP_SECRET)
    assert APP_SECRET not in caplog.text
    assert dingtalk.opened == 1
    assert wait_until(lambda: app.get("/readyz").json()["checks"]["channels"]["dingtalk"]["connected"], 5)


def test_kill_9_of_the_holder_mid_stream_another_worker_takes_over_and_each_message_is_answered_once(
        gunicorn_app, make_config, fake_model, dingtalk, database_url):
    """DingTalk sends again what was not acknowledged when the next connection opens (the fake does
    too): callbacks the dead holder had stored come again and are dropped by the inbox, the others
    are stored by the new holder. The pause after the first replies and the model's delay keep replies
    from being on their way at the kill: one whose sender dies between the platform's answer and the
    outbox's commit goes again (the outbox's at-least-once window, not the connection's)."""
    dingtalk.redeliver = True
    app = gunicorn_app(_config(make_config, fake_model, dingtalk), workers=2)
    texts = [f"消息 {i}" for i in range(24)]
    for i, text in enumerate(texts[:8]):
        dingtalk.callback(_message(dingtalk, f"kill-{i}", text))
    assert len(dingtalk.wait_delivered(8, timeout=30)) == 8
    quiet_for(1.0)          # the outbox has recorded those replies as sent: none is on its way at the kill
    holder = holder_pid(database_url, "dingtalk")
    assert holder in app.worker_pids()
    fake_model.delay = 1.0
    for i, text in enumerate(texts[8:16], start=8):
        dingtalk.callback(_message(dingtalk, f"kill-{i}", text))
    os.kill(holder, signal.SIGKILL)
    killed_at = time.time()
    assert dingtalk.wait(lambda: dingtalk.opened >= 2, 20)
    assert time.time() - killed_at < 5 + 5                      # takeover_seconds, and a reconnect's backoff
    for i, text in enumerate(texts[16:], start=16):
        dingtalk.callback(_message(dingtalk, f"kill-{i}", text))
    fake_model.delay = 0.0
    dingtalk.wait_delivered(len(texts), timeout=60)
    quiet_for(2.0)
    assert sorted(_replies(dingtalk)) == sorted(f"echo: {t}" for t in texts)
    dingtalk.assert_one_at_a_time()
    assert holder_pid(database_url, "dingtalk") not in (None, holder)
