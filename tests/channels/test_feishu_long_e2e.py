"""Feishu in connect mode (the long connection) through the whole path: the app runs for real (under
gunicorn with two workers, or in this process) against the fake Feishu on loopback; events come as
pbbp2 frames over the websocket, replies go out through the IM API, exactly once."""
from __future__ import annotations

import json
import os
import signal
import time
from typing import Any, Iterator

import pytest

from tests.support.connect_mode import (assert_refused_once, assert_webhook_closed_and_connected, connect_config,
                                         holder_pid)
from tests.support.fake_feishu_ws import FakeFeishuWs
from tests.support.platform_clients import quiet_for
from tests.support.platform_requests import feishu_event
from tests.support.recording_link import serving

APP_ID, APP_SECRET = "cli_test", "feishu-long-e2e-secret"


@pytest.fixture
def feishu() -> Iterator[FakeFeishuWs]:
    yield from serving(FakeFeishuWs(APP_ID, APP_SECRET))


def _config(make_config: Any, fake_model: Any, feishu: FakeFeishuWs) -> dict[str, Any]:
    return connect_config(make_config, fake_model, "feishu", app_id=APP_ID, app_secret=APP_SECRET, api_base=feishu.url)


def _answered(feishu: FakeFeishuWs, event: dict[str, Any]) -> dict[str, Any]:
    return json.loads(feishu.wait_answer(feishu.event(event))["payload"])


def test_one_message_in_one_reply_out_under_gunicorn(gunicorn_app, make_config, fake_model, feishu):
    app = gunicorn_app(_config(make_config, fake_model, feishu), workers=2)
    assert _answered(feishu, feishu_event("feishu_p2p_text.json", message_id="om_e2e_1")) == {"code": 200}
    [reply] = feishu.wait_delivered(1)
    assert reply["path"] == "/open-apis/im/v1/messages/om_e2e_1/reply"
    quiet_for(1.0)
    assert len(feishu.delivered) == 1
    feishu.assert_one_at_a_time()
    assert_webhook_closed_and_connected(app, "feishu")


def test_an_event_pushed_twice_and_again_after_a_reconnect_is_answered_once(live_app, make_config, fake_model,
                                                                           feishu):
    live_app(_config(make_config, fake_model, feishu))
    event = feishu_event("feishu_p2p_text.json", message_id="om_twice")
    assert _answered(feishu, event) == {"code": 200}
    event["header"]["event_id"] = "re-pushed"                 # Feishu re-pushes under a new event id
    assert _answered(feishu, event) == {"code": 200}
    assert len(feishu.wait_delivered(1)) == 1
    feishu.drop()
    assert feishu.wait_connections(2)
    assert _answered(feishu, event) == {"code": 200}
    assert _answered(feishu, feishu_event("feishu_p2p_text.json", message_id="om_next")) == {"code": 200}
    feishu.wait_delivered(2)
    quiet_for(1.0)
    assert [r["path"].split("/")[-2] for r in feishu.delivered] == ["om_twice", "om_next"]
    feishu.assert_one_at_a_time()


def test_forged_and_malformed_frames_are_dropped_audited_once_and_the_connection_kept(live_app, make_config,
                                                                                      fake_model, feishu):
    config = _config(make_config, fake_model, feishu)
    config["audit"] = {"refusal_audit_interval": 60.0}
    app = live_app(config)
    feishu.push(b"\x0a\xff\xff")                             # not a frame
    forged = feishu_event("feishu_p2p_text.json", message_id="om_forged")
    forged["header"]["app_id"] = "cli_another_app"
    assert _answered(feishu, forged) == {"code": 400}
    assert _answered(feishu, feishu_event("feishu_p2p_text.json", message_id="om_real")) == {"code": 200}
    assert [r["path"].split("/")[-2] for r in feishu.wait_delivered(1)] == ["om_real"]
    assert_refused_once(app, "feishu", APP_SECRET)
    assert feishu.opened == 1


def test_kill_9_of_the_holder_mid_stream_another_worker_takes_over_and_each_message_is_answered_once(
        gunicorn_app, make_config, fake_model, feishu, database_url):
    """Feishu pushes again what was not answered when the next connection opens (the fake does too):
    events the dead holder had stored are dropped by the inbox, the others stored by the new holder.
    The pause after the first replies and the model's delay keep replies from being on their way
    at the kill: one whose sender dies between the platform's answer and the outbox's commit goes
    again (the outbox's at-least-once window, not the connection's)."""
    feishu.redeliver = True
    app = gunicorn_app(_config(make_config, fake_model, feishu), workers=2)
    ids = [f"om_kill_{i}" for i in range(24)]
    for message_id in ids[:8]:
        feishu.event(feishu_event("feishu_p2p_text.json", message_id=message_id))
    assert len(feishu.wait_delivered(8, timeout=30)) == 8
    quiet_for(1.0)          # the outbox has recorded those replies as sent: none is on its way at the kill
    holder = holder_pid(database_url, "feishu")
    assert holder in app.worker_pids()
    fake_model.delay = 1.0
    for message_id in ids[8:16]:
        feishu.event(feishu_event("feishu_p2p_text.json", message_id=message_id))
    os.kill(holder, signal.SIGKILL)
    killed_at = time.time()
    assert feishu.wait(lambda: feishu.opened >= 2, 20) and time.time() - killed_at < 10
    for message_id in ids[16:]:
        feishu.event(feishu_event("feishu_p2p_text.json", message_id=message_id))
    fake_model.delay = 0.0
    feishu.wait_delivered(len(ids), timeout=60)
    quiet_for(2.0)
    assert sorted(r["path"].split("/")[-2] for r in feishu.delivered) == sorted(ids)
    feishu.assert_one_at_a_time()
    assert holder_pid(database_url, "feishu") not in (None, holder)
