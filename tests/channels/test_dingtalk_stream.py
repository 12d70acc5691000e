"""DingTalk Stream mode, the connector alone: against a fake DingTalk on loopback that speaks the
protocol over a real websocket (checked below with DingTalk's own SDK as its client), with a
recording stand-in for the gateway. The whole path under gunicorn is in test_dingtalk_stream_e2e."""
from __future__ import annotations

import asyncio
import json
import threading

import pytest

from smartbot.channels.connect.dingtalk import DingTalkStream
from smartbot.channels.dingtalk import DingTalkChannel, DingTalkConfig
from smartbot.settings.schema import build
from tests.support import event_loops
from tests.support.fake_dingtalk_stream import BOT_TOPIC, OPEN_PATH, FakeDingTalkStream
from tests.support.platform_requests import dingtalk_message
from tests.support.recording_link import RecordingLink, link, serving  # noqa: F401 - link is a fixture

APP_KEY, APP_SECRET = "dingapp_stream", "dingtalk-stream-secret-for-tests"


@pytest.fixture
def platform():
    yield from serving(FakeDingTalkStream(APP_KEY, APP_SECRET))


def _channel(platform: FakeDingTalkStream, **section) -> DingTalkChannel:
    config = build(DingTalkConfig, {"app_key": APP_KEY, "app_secret": APP_SECRET, "api_base": platform.url,
                                    "session_webhook_hosts": [platform.url], **section}, "channels.dingtalk")
    return DingTalkChannel(config)


def _direct(platform: FakeDingTalkStream, msg_id: str, text: str = "你好") -> dict:
    return dingtalk_message(conversationType="1", msgId=msg_id, text={"content": text},
                            sessionWebhook=platform.session_webhook)


def test_a_callback_is_stored_then_acknowledged(platform, link):
    stored_before_ack = []
    link.before_store = lambda messages: stored_before_ack.append(platform.acks("m-1") == [])
    link.start(DingTalkStream(_channel(platform)))
    platform.callback(_direct(platform, "msgA"), message_id="m-1")
    ack = platform.wait_ack("m-1")
    assert stored_before_ack == [True]
    assert [(m.event_id, m.text, m.chat_type) for m in link.stored] == [("msgA", "你好", "direct")]
    assert ack["code"] == 200 and ack["headers"] == {"messageId": "m-1", "contentType": "application/json"}
    opened = platform.calls(OPEN_PATH)[0]["json"]
    assert opened["subscriptions"] == [{"type": "CALLBACK", "topic": BOT_TOPIC},
                                       {"type": "CALLBACK", "topic": "/v1.0/card/instances/callback"}]
    assert link.states[0] == ("up", "127.0.0.1")


def test_nothing_is_acknowledged_when_the_store_fails_and_the_resend_is_stored(platform, link):
    link.fail_next_store(1)
    link.start(DingTalkStream(_channel(platform)))
    platform.callback(_direct(platform, "msgB"), message_id="m-2")
    assert platform.wait_connections(2), "the connector should drop the connection and connect again"
    assert platform.acks("m-2") == [] and link.stored == []
    platform.callback(_direct(platform, "msgB"), message_id="m-2")        # DingTalk sends the unacknowledged again
    assert platform.wait_ack("m-2")["code"] == 200
    assert [m.event_id for m in link.stored] == ["msgB"]


def test_system_ping_is_answered_with_its_data_and_disconnect_reconnects(platform, link):
    link.start(DingTalkStream(_channel(platform)))
    ping = platform.system("ping", '{"opaque":"abc"}')
    ack = platform.wait_ack(ping)
    assert ack["code"] == 200 and ack["data"] == '{"opaque":"abc"}'
    platform.system("disconnect", "{}")
    assert platform.wait_connections(2)
    platform.callback(_direct(platform, "msgC"))
    assert [m.event_id for m in link.wait_stored(1)] == ["msgC"]
    platform.assert_one_at_a_time()


def test_a_dropped_connection_is_reopened_with_a_new_ticket(platform, link):
    link.start(DingTalkStream(_channel(platform)))
    assert platform.wait_connections(1)
    platform.drop()
    assert platform.wait_connections(2)
    assert len(platform.calls(OPEN_PATH)) == 2
    platform.callback(_direct(platform, "msgD"))
    assert [m.event_id for m in link.wait_stored(1)] == ["msgD"]


@pytest.mark.parametrize("frame", [b"\xff\xfe not json", "[1, 2]", '{"type": "CALLBACK"}', "{" * 5000])
def test_a_malformed_frame_is_refused_and_the_connection_kept(platform, link, frame):
    link.start(DingTalkStream(_channel(platform)))
    platform.push(frame)
    assert link.wait_for(lambda: link.refused)
    platform.callback(_direct(platform, "msgE"))
    assert [m.event_id for m in link.wait_stored(1)] == ["msgE"]
    assert platform.opened == 1 and len(link.refused) == 1


def test_a_callback_that_does_not_parse_is_refused_and_acknowledged_as_bad(platform, link):
    link.start(DingTalkStream(_channel(platform)))
    bad = platform.callback("not json at all")
    no_id = platform.callback({"msgtype": "text", "conversationType": "1", "text": {"content": "x"}})
    assert platform.wait_ack(bad)["code"] == 400 and platform.wait_ack(no_id)["code"] == 400
    assert [reason for reason, _ in link.refused] == ["malformed_frame"] * 2
    assert "does not parse" in link.refused[0][1]["reason"] and "msgId" in json.dumps(link.refused[1][1])
    assert link.stored == []
    assert platform.opened == 1


def test_wrong_credentials_are_reported_without_the_secret(platform, link):
    link.start(DingTalkStream(_channel(platform, app_secret="wrong-secret-value")))
    assert link.wait_for(lambda: len(link.ended) >= 1)
    assert "refused the connection (401" in link.ended[0]
    assert "wrong-secret-value" not in " ".join(link.ended) and platform.opened == 0


def test_close_ends_a_blocked_run_promptly(platform):
    link = RecordingLink().start(DingTalkStream(_channel(platform)))
    assert platform.wait_connections(1)
    link.stop()                       # asserts the thread ended
    assert platform.wait(lambda: not platform.connections)


def test_the_fake_speaks_to_dingtalks_own_sdk_as_to_our_connector(platform):
    """The fake's frames and ticket handshake as DingTalk's official client reads them: it connects,
    receives the callback as a ChatbotMessage, and acknowledges it as our connector does."""
    import dingtalk_stream
    from dingtalk_stream import AckMessage, ChatbotMessage

    received = []

    class Recorder(dingtalk_stream.ChatbotHandler):
        async def process(self, callback):
            received.append(ChatbotMessage.from_dict(callback.data))
            return AckMessage.STATUS_OK, "OK"

    client = dingtalk_stream.DingTalkStreamClient(dingtalk_stream.Credential(APP_KEY, APP_SECRET))
    client.register_callback_handler(ChatbotMessage.TOPIC, Recorder())
    loop = asyncio.new_event_loop()
    original = dingtalk_stream.DingTalkStreamClient.OPEN_CONNECTION_API
    dingtalk_stream.DingTalkStreamClient.OPEN_CONNECTION_API = platform.url + OPEN_PATH

    def serve() -> None:
        try:
            loop.run_until_complete(client.start())
        except asyncio.CancelledError:
            pass
        event_loops.finish(loop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        assert platform.wait_connections(1)
        message_id = platform.callback(_direct(platform, "msgSDK", "来自官方SDK"))
        sdk_ack = platform.wait_ack(message_id)
        ping = platform.system("ping", '{"opaque":"sdk"}')
        sdk_ping_ack = platform.wait_ack(ping)
    finally:
        loop.call_soon_threadsafe(lambda: [t.cancel() for t in asyncio.all_tasks(loop)])
        thread.join(10)
        platform.drop()
        dingtalk_stream.DingTalkStreamClient.OPEN_CONNECTION_API = original
    assert received[0].message_id == "msgSDK" and received[0].text.content == "来自官方SDK"
    assert sdk_ack["code"] == 200 and sdk_ack["headers"]["messageId"] == message_id
    assert sdk_ping_ack["code"] == 200 and sdk_ping_ack["data"] == '{"opaque": "sdk"}'

    link = RecordingLink().start(DingTalkStream(_channel(platform)))
    try:
        ours = platform.wait_ack(platform.callback(_direct(platform, "msgOurs")))
    finally:
        link.stop()
    assert set(ours) == set(sdk_ack) and set(ours["headers"]) == set(sdk_ack["headers"])


def test_the_registry_finds_each_websocket_connector():
    from smartbot.channels.connect import registry
    from smartbot.channels.connect.feishu import FeishuLongConnection
    from smartbot.channels.connect.wecom import WeComLongConnection

    assert [registry.connector_class(name) for name in ("dingtalk", "feishu", "wecom")] == [
        DingTalkStream, FeishuLongConnection, WeComLongConnection]
