"""DingTalk in connect mode (Stream) through the whole path: the app runs for real (under gunicorn
with two workers, or in this process) against the fake DingTalk Stream on loopback; callbacks come
over the websocket, replies go out through the session webhook, exactly once."""
from __future__ import annotations

import json
from typing import Any, Iterator

import pytest
import requests

from tests.support.fake_dingtalk_stream import FakeDingTalkStream
from tests.support.platform_clients import audit_rows, quiet_for, wait_for_audit
from tests.support.platform_requests import dingtalk_message
from tests.support.waiting import wait_until

APP_KEY, APP_SECRET = "dingapp_stream_e2e", "dingtalk-stream-e2e-secret"


@pytest.fixture
def dingtalk() -> Iterator[FakeDingTalkStream]:
    fake = FakeDingTalkStream(APP_KEY, APP_SECRET).start()
    yield fake
    fake.stop()


def _config(make_config: Any, fake_model: Any, dingtalk: FakeDingTalkStream) -> dict[str, Any]:
    section = {"mode": "connect", "app_key": APP_KEY, "app_secret": APP_SECRET, "api_base": dingtalk.url,
               "session_webhook_hosts": [dingtalk.url]}
    return make_config(model=fake_model, channels={"dingtalk": section, "takeover_seconds": 5})


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
    res = requests.post(app.url + "/webhooks/dingtalk", json={}, timeout=5)
    assert res.status_code == 404 and "connect mode" in res.json()["error"]
    ready = app.get("/readyz").json()["checks"]["channels"]["dingtalk"]
    assert ready["mode"] == "connect" and ready["connected"] is True


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
    rows = wait_for_audit(app, "connection.refused")
    quiet_for(0.5)
    assert len(audit_rows(app, "connection.refused")) == 1 and rows[0].target == "channel:dingtalk"
    assert APP_SECRET not in str(rows[0].details) and APP_SECRET not in caplog.text
    assert dingtalk.opened == 1
    assert wait_until(lambda: app.get("/readyz").json()["checks"]["channels"]["dingtalk"]["connected"], 5)
