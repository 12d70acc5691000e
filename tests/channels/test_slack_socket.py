"""Slack Socket Mode: the connector against a fake Slack on loopback, over real sockets.

The fake is checked first with slack_sdk's own SocketModeClient as the client, so what it sends and
expects (apps.connections.open, hello, envelopes, the `{"envelope_id": ...}` acknowledgement) is
what Slack's SDK sends and expects. The connector then runs with `RecordingLink` as the gateway's
stand-in; the end-to-end path (inbox, worker, chat.postMessage) is in test_slack_socket_gunicorn.py.
"""
from __future__ import annotations

import subprocess
import sys
import threading

import pytest
from slack_sdk.socket_mode.builtin import SocketModeClient
from slack_sdk.socket_mode.response import SocketModeResponse
from slack_sdk.web import WebClient

from smartbot.channels.connect.slack import SlackSocketMode
from smartbot.channels.slack import SlackChannel, SlackConfig
from smartbot.errors import ConfigError
from smartbot.settings.schema import build
from tests.support.fake_slack_socket import APP_TOKEN, BOT_TOKEN, BOT_USER, FakeSlackSocket
from tests.support.recording_link import RecordingLink


@pytest.fixture
def fake():
    server = FakeSlackSocket().start()
    yield server
    server.stop()
    assert server.ws.errors == []


def _channel(fake: FakeSlackSocket, **extra) -> SlackChannel:
    settings = {"bot_token": BOT_TOKEN, "signing_secret": "0" * 32, "app_token": APP_TOKEN,
                "api_base": fake.api_base, **extra}
    return SlackChannel(build(SlackConfig, settings, "channels.slack"))


@pytest.fixture
def connected(fake):
    """A running connector with its link, once Slack said hello."""
    link = RecordingLink()
    link.start(SlackSocketMode(_channel(fake)))
    fake.wait_connected()
    link.wait_state("up")
    yield link
    link.stop()


def _mention(text="summarise the last deploy", ts="1795550001.000200", channel="C0TEST"):
    return {"type": "app_mention", "channel": channel, "user": "U0ALICE", "text": f"<@{BOT_USER}> {text}", "ts": ts}


def _dm(text="restart worker", ts="1795550000.000100"):
    return {"type": "message", "channel": "D0TEST", "channel_type": "im", "user": "U0ALICE", "text": text, "ts": ts}


def test_the_fake_is_what_slack_sdk_s_own_socket_mode_client_expects(fake):
    received, acked = [], threading.Event()
    client = SocketModeClient(app_token=APP_TOKEN, web_client=WebClient(token=BOT_TOKEN, base_url=fake.api_base + "/"),
                              auto_reconnect_enabled=False, ping_interval=30)

    def listener(sdk, request):
        received.append(request)
        sdk.send_socket_mode_response(SocketModeResponse(envelope_id=request.envelope_id))
        acked.set()

    client.socket_mode_request_listeners.append(listener)
    try:
        client.connect()
        fake.wait_connected()
        envelope_id = fake.push_event(_dm())
        assert acked.wait(10)
        acks = fake.wait_acks(1)
    finally:
        client.close()
    assert received[0].type == "events_api" and received[0].payload["event"]["text"] == "restart worker"
    assert acks[0]["frame"] == {"envelope_id": envelope_id} and acks[0]["known"]
    assert fake.pending == {}


def test_a_mention_and_a_dm_are_stored_then_acknowledged_as_the_sdk_does(fake, connected):
    mention_envelope = fake.push_event(_mention())
    dm_envelope = fake.push_event(_dm())
    stored = connected.wait_stored(2)
    acks = fake.wait_acks(2)
    assert [(m.chat_type, m.text, m.mentioned) for m in stored] == [
        ("group", "summarise the last deploy", True), ("direct", "restart worker", True)]
    assert stored[0].event_id == "C0TEST:1795550001.000200"
    assert stored[0].reply_context == {"channel": "C0TEST", "thread_ts": "1795550001.000200"}
    assert [a["frame"] for a in acks] == [{"envelope_id": mention_envelope}, {"envelope_id": dm_envelope}]
    assert fake.pending == {}


def test_a_store_that_fails_leaves_the_envelope_unacknowledged_and_slack_sends_it_again(fake):
    link = RecordingLink()
    link.fail_next_store()
    link.start(SlackSocketMode(_channel(fake)))
    try:
        fake.wait_connected()
        envelope_id = fake.push_event(_dm())
        fake.wait_connected(opens=2)                 # the connector dropped the connection and came back
        stored = link.wait_stored(1)
        acks = fake.wait_acks(1)
    finally:
        link.stop()
    assert [m.text for m in stored] == ["restart worker"]
    assert [a["frame"] for a in acks] == [{"envelope_id": envelope_id}]     # acknowledged once, after the store


def test_the_same_event_twice_and_again_after_a_reconnect_is_stored_once(fake, connected):
    fake.push_event(_mention(), event_id="Ev01")
    fake.push_event(_mention(), event_id="Ev01")
    fake.push_event({**_mention(), "type": "message", "channel_type": "channel"}, event_id="Ev02")
    fake.wait_acks(3)
    fake.disconnect("refresh_requested")
    fake.wait_connected(opens=2)
    fake.push_event(_mention(), event_id="Ev01")
    fake.wait_acks(4)
    assert len(connected.stored) == 1 and connected.duplicates == 3
    assert any("refresh_requested" in reason for reason in connected.wait_state("down"))


def test_a_dropped_connection_is_reopened_and_what_came_meanwhile_arrives(fake, connected):
    fake.drop()
    fake.push_event(_dm("sent while the connection was down", ts="1795550009.000100"))
    fake.wait_connected(opens=2)
    stored = connected.wait_stored(1)
    fake.wait_acks(1)
    assert [m.text for m in stored] == ["sent while the connection was down"]
    assert fake.pending == {}


def test_malformed_and_forged_frames_are_refused_and_the_connection_kept(fake, connected):
    fake.send_raw("this is not JSON")
    fake.send_raw("[1, 2, 3]")
    fake.send_raw({"type": "events_api", "payload": {"event": _dm()}})                    # no envelope id
    fake.push_envelope({"envelope_id": "e-bad", "type": "events_api", "payload": "not an object"})
    fake.push_envelope({"envelope_id": "e-bad2", "type": "events_api",
                        "payload": {"type": "event_callback", "event": {"type": "message", "user": "U1", "text": "x"}}})
    forged = {"envelope_id": "e-forged", "type": "events_api",
              "payload": {"type": "event_callback", "api_app_id": "A0SOMEONE0ELSE", "event_id": "Ev9", "event": _dm()}}
    fake.push_envelope(forged)
    fake.push_event(_dm("still listening", ts="1795550000.000999"))
    stored = connected.wait_stored(1)
    refused = connected.wait_refused(6)
    assert [m.text for m in stored] == ["still listening"]
    assert [reason for reason, _ in refused] == [
        "a frame that is not JSON", "a frame that is not a JSON object", "an envelope without a usable envelope_id",
        "an events_api envelope without a payload object", "missing field: event.channel",
        "an event for another app than this connection's"]
    assert fake.opens == 1                           # the same connection throughout
    acked = {a["frame"]["envelope_id"] for a in fake.wait_acks(4)}
    assert {"e-bad", "e-bad2", "e-forged"} <= acked             # a payload that never parses is not sent again


def test_slash_commands_and_interactions_without_our_buttons_are_acknowledged_and_ignored(fake, connected, caplog):
    caplog.set_level("INFO", logger="smartbot.channels.connect.slack")
    fake.push_envelope({"envelope_id": "e-slash", "type": "slash_commands", "accepts_response_payload": True,
                        "payload": {"command": "/ask", "text": "hi", "user_id": "U0ALICE", "channel_id": "C0TEST"}})
    fake.push_envelope({"envelope_id": "e-click", "type": "interactive", "payload": {"type": "block_actions"}})
    acks = fake.wait_acks(2)
    assert [a["frame"] for a in acks] == [{"envelope_id": "e-slash"}, {"envelope_id": "e-click"}]
    assert connected.stored == [] and connected.refused == []
    assert "slash_commands envelope" in caplog.text


def test_an_interactive_envelope_pressing_a_decision_button_is_stored_as_a_press(fake, connected):
    payload = {"type": "block_actions", "trigger_id": "tr-1", "user": {"id": "U0BOB", "username": "bob"},
               "channel": {"id": "C0OPS"}, "container": {"message_ts": "1795550000.000100"},
               "actions": [{"action_id": "smartbot_decision_0", "type": "button", "value": "a:1:AAAAAAAAAAA"}]}
    fake.push_envelope({"envelope_id": "e-press", "type": "interactive", "payload": payload})
    stored = connected.wait_stored(1)
    assert [(m.event_id, m.press, m.user_id) for m in stored] == [("press:tr-1", "a:1:AAAAAAAAAAA", "U0BOB")]
    assert [a["frame"] for a in fake.wait_acks(1)] == [{"envelope_id": "e-press"}]


def test_a_wrong_app_token_is_a_config_error_and_never_shown(fake):
    connector = SlackSocketMode(_channel(fake, app_token="xapp-wrong-token"))
    with pytest.raises(ConfigError) as refused:
        connector.run(RecordingLink())
    assert "channels.slack.app_token" in str(refused.value) and "invalid_auth" in str(refused.value)
    assert "xapp-wrong-token" not in str(refused.value)
    assert fake.opens == 0



def test_connect_mode_needs_the_app_token_and_not_the_signing_secret(fake):
    with pytest.raises(ConfigError) as missing:
        build(SlackConfig, {"bot_token": BOT_TOKEN, "mode": "connect"}, "channels.slack")
    assert "channels.slack.app_token" in str(missing.value) and "connections:write" in str(missing.value)
    config = build(SlackConfig, {"bot_token": BOT_TOKEN, "mode": "connect", "app_token": APP_TOKEN}, "channels.slack")
    assert config.signing_secret == "" and config.self_check() == ""
    with pytest.raises(ConfigError) as webhook:
        build(SlackConfig, {"bot_token": BOT_TOKEN, "app_token": APP_TOKEN}, "channels.slack")
    assert "channels.slack.signing_secret" in str(webhook.value)


def test_without_the_websockets_library_start_up_names_the_extra_to_install():
    script = ("import sys; sys.modules['websockets'] = None\n"
              "from smartbot.channels.connect import registry\n"
              "from smartbot.errors import ConfigError\n"
              "for name in ('slack', 'discord'):\n"
              "    try:\n"
              "        registry.check(name)\n"
              "    except ConfigError as exc:\n"
              "        print(exc)\n")
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=60)
    assert "pip install 'smartbot[slack]'" in done.stdout and "pip install 'smartbot[discord]'" in done.stdout


def test_at_debug_level_the_connection_ticket_and_the_messages_stay_out_of_the_log(fake, caplog):
    caplog.set_level("DEBUG")
    link = RecordingLink()
    link.start(SlackSocketMode(_channel(fake)))
    try:
        fake.wait_connected()
        fake.push_event(_dm("a private question"))
        link.wait_stored(1)
        fake.wait_acks(1)
    finally:
        link.stop()
    ours = "\n".join(r.getMessage() for r in caplog.records if not r.name.startswith("websockets.server"))  # not the fake's
    assert "ticket=" not in ours and "a private question" not in ours
    assert APP_TOKEN not in ours and BOT_TOKEN not in ours
