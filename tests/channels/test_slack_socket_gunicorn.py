"""Slack in connect mode through the whole path: Socket Mode in, the inbox, the worker, chat.postMessage out.

The app runs for real (under gunicorn with two workers, or in this process) against the fake Slack
of tests/support/fake_slack_socket.py, whose websocket counts the connections open at once.
"""
from __future__ import annotations

import json
import signal
from typing import Any, Iterator

import pytest
import requests

from tests.support.fake_slack_socket import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlackSocket
from tests.support.outbox_rows import wait_sent
from tests.support.platform_clients import audit_rows, quiet_for, wait_for_audit
from tests.support.waiting import wait_until


@pytest.fixture
def slack() -> Iterator[FakeSlackSocket]:
    server = FakeSlackSocket().start()
    yield server
    server.stop()


def socket_mode_config(make_config: Any, fake_model: Any, slack: FakeSlackSocket) -> dict[str, Any]:
    section = {"mode": "connect", "app_token": APP_TOKEN, "bot_token": BOT_TOKEN, "api_base": slack.api_base}
    return make_config(model=fake_model, channels={"slack": section, "takeover_seconds": 5})


def mention(text: str, ts: str) -> dict[str, Any]:
    return {"type": "app_mention", "channel": "C0TEST", "user": "U0ALICE", "text": f"<@{BOT_USER}> {text}", "ts": ts}


def test_one_mention_in_one_reply_out_under_gunicorn(gunicorn_app, make_config, fake_model, slack):
    app = gunicorn_app(socket_mode_config(make_config, fake_model, slack), workers=2)
    slack.wait_connected()
    envelope_id = slack.push_event(mention("hello over Socket Mode", "1795550001.000200"))
    replies = slack.wait_replies(1)
    assert [(r["channel"], r["text"], r["thread_ts"]) for r in replies] == [
        ("C0TEST", "echo: hello over Socket Mode", "1795550001.000200")]
    assert [a["frame"] for a in slack.wait_acks(1)] == [{"envelope_id": envelope_id}]
    quiet_for(1.0)
    assert len(slack.replies) == 1 and slack.ws.most_at_once == 1
    res = requests.post(app.url + "/webhooks/slack", json={"type": "event_callback"}, timeout=5)
    assert res.status_code == 404 and "connect mode" in res.json()["error"]
    assert wait_until(lambda: app.get("/readyz").json()["checks"]["channels"]["slack"]["connected"] is True, 10)
    assert APP_TOKEN not in app.log()


def test_the_same_event_twice_and_again_after_a_reconnect_is_answered_once(live_app, make_config, fake_model, slack):
    app = live_app(socket_mode_config(make_config, fake_model, slack))
    slack.wait_connected()
    slack.push_event(mention("only once please", "1795550002.000100"), event_id="Ev01")
    slack.push_event(mention("only once please", "1795550002.000100"), event_id="Ev01")
    assert len(slack.wait_replies(1)) == 1
    slack.disconnect("refresh_requested")
    slack.wait_connected(opens=2)
    slack.push_event(mention("only once please", "1795550002.000100"), event_id="Ev01")
    slack.push_event(mention("and a new one", "1795550002.000200"))
    replies = slack.wait_replies(2)
    quiet_for(1.0)
    assert [r["text"] for r in slack.replies] == ["echo: only once please", "echo: and a new one"]
    assert len(replies) == 2 and len(slack.wait_acks(4)) == 4 and slack.pending == {}
    assert wait_until(lambda: app.get("/readyz").json()["checks"]["channels"]["slack"]["reconnects"] >= 1, 10)


def test_a_dropped_connection_is_reopened_and_nothing_is_lost(live_app, make_config, fake_model, slack):
    live_app(socket_mode_config(make_config, fake_model, slack))
    slack.wait_connected()
    slack.drop()
    slack.push_event(mention("sent while the connection was down", "1795550003.000100"))
    slack.wait_connected(opens=2)
    assert [r["text"] for r in slack.wait_replies(1)] == ["echo: sent while the connection was down"]
    quiet_for(0.5)
    assert len(slack.replies) == 1 and slack.pending == {} and slack.ws.most_at_once == 1


def test_malformed_frames_are_dropped_logged_audited_once_per_reason_and_the_connection_kept(live_app, make_config, fake_model,
                                                                                   slack, caplog):
    config = socket_mode_config(make_config, fake_model, slack)
    config["audit"] = {"refusal_audit_interval": 60.0}
    app = live_app(config)
    slack.wait_connected()
    bad_payload = {"type": "event_callback", "event": {"type": "message", "user": "U1", "text": "x"}}
    for number in range(2):
        slack.send_raw("this is not JSON")
        slack.push_envelope({"envelope_id": f"e-bad-{number}", "type": "events_api", "payload": bad_payload})
    slack.push_event(mention("still here?", "1795550004.000100"))
    assert [r["text"] for r in slack.wait_replies(1)] == ["echo: still here?"]
    wait_for_audit(app, "connection.refused")
    quiet_for(0.5)
    rows = audit_rows(app, "connection.refused")
    assert sorted(json.loads(row.details)["reason"] for row in rows) == ["a frame that is not JSON", "missing field: event.channel"]
    assert {row.target for row in rows} == {"channel:slack"} and APP_TOKEN not in str([r.details for r in rows])
    assert slack.opens == 1 and APP_TOKEN not in caplog.text


def test_kill_9_of_the_holder_another_process_connects_and_every_event_is_answered_once(gunicorn_app, make_config,
                                                                                        fake_model, slack, database_url):
    app = gunicorn_app(socket_mode_config(make_config, fake_model, slack), workers=2)
    slack.wait_connected()
    for number in range(3):
        slack.push_event(mention(f"before {number}", f"1795550005.00010{number}"))
    slack.wait_replies(3)
    assert wait_sent(database_url, 3)
    app.kill_workers(signal.SIGKILL)             # the holder dies mid-stream; gunicorn starts new workers
    for number in range(3):
        slack.push_event(mention(f"during {number}", f"1795550005.00020{number}"))
    slack.wait_connected(opens=2, timeout=30)
    for number in range(3):
        slack.push_event(mention(f"after {number}", f"1795550005.00030{number}"))
    slack.wait_replies(9, timeout=30)
    quiet_for(1.5)
    texts = sorted(r["text"] for r in slack.replies)
    assert texts == sorted([f"echo: {when} {n}" for when in ("before", "during", "after") for n in range(3)])
    assert slack.pending == {} and slack.ws.most_at_once == 1
