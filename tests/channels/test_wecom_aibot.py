"""WeCom's AI bot (智能机器人) long connection, the connector alone: against a fake WeCom on loopback
that speaks the JSON frame protocol over a real websocket (checked below with WeCom's own Python SDK
as its client), with a recording stand-in for the gateway; replies through the connection the way
the worker's send hands them over in the process that holds it."""
from __future__ import annotations

import asyncio
import threading

import pytest

from smartbot.channels.connect.wecom import WeComLongConnection
from smartbot.channels.wecom import WeComChannel, WeComConfig
from smartbot.channels.base import Headers, WebRequest
from smartbot.errors import ConfigError, DeliveryError, PayloadError, SignatureError
from smartbot.messages import Reply
from smartbot.settings.schema import build
from tests.support import event_loops
from tests.support.fake_wecom_aibot import FakeWeComAiBot
from tests.support.recording_link import link, serving  # noqa: F401 - link is a fixture

BOT_ID, BOT_SECRET = "aibot_test_id", "aibot-secret-for-tests"


@pytest.fixture
def platform():
    yield from serving(FakeWeComAiBot(BOT_ID, BOT_SECRET))


def _channel(platform: FakeWeComAiBot | None = None, **section) -> WeComChannel:
    url = platform.ws_url if platform else "ws://127.0.0.1:9/ws"
    return WeComChannel(build(WeComConfig, {"mode": "connect", "bot_id": BOT_ID, "bot_secret": BOT_SECRET,
                                            "aibot_url": url, **section}, "channels.wecom"))


def _text(msgid: str, content: str = "你好", chattype: str = "single", **fields) -> dict:
    body = {"msgid": msgid, "aibotid": BOT_ID, "chattype": chattype, "from": {"userid": "zhangsan"},
            "msgtype": "text", "text": {"content": content}}
    if chattype == "group":
        body["chatid"] = "wrkSFfCgAAgroup"
    return {**body, **fields}


def _reply(message, text: str = "好的") -> Reply:
    return Reply("wecom", message.chat_id, text, dict(message.reply_context), "markdown", delivery_id="d-1")


# -- settings ----------------------------------------------------------------------------------
def test_each_mode_asks_for_its_own_keys():
    with pytest.raises(ConfigError, match="channels.wecom.bot_secret.*required in connect mode"):
        build(WeComConfig, {"mode": "connect", "bot_id": BOT_ID}, "channels.wecom")
    with pytest.raises(ConfigError, match="channels.wecom.corp_id.*required in webhook mode.*bot_id"):
        build(WeComConfig, {"bot_id": BOT_ID, "bot_secret": BOT_SECRET}, "channels.wecom")
    with pytest.raises(ConfigError, match="ws:// or wss://"):
        build(WeComConfig, {"mode": "connect", "bot_id": BOT_ID, "bot_secret": BOT_SECRET,
                            "aibot_url": "https://openws.work.weixin.qq.com"}, "channels.wecom")


def test_connect_mode_starts_with_either_job_backend():
    """Celery workers hand their AI bot replies to the connection's holder (test_wecom_aibot_celery)."""
    from smartbot.settings.loading import load

    section = {"mode": "connect", "bot_id": BOT_ID, "bot_secret": BOT_SECRET}
    celery = {"backend": "celery", "broker_url": "redis://127.0.0.1:6379/0"}
    assert load({"channels": {"wecom": section}, "jobs": celery}).channels["wecom"].mode == "connect"
    assert load({"channels": {"wecom": section}}).channels["wecom"].mode == "connect"


def test_a_webhook_cannot_verify_without_the_webhook_keys():
    request = WebRequest("POST", "/webhooks/wecom", Headers(), b"<xml/>",
                         args={"msg_signature": "x", "timestamp": "1", "nonce": "n"})
    with pytest.raises(SignatureError, match="no webhook can verify"):
        _channel().verify(request)


# -- parsing -----------------------------------------------------------------------------------
def test_a_group_message_loses_the_mention_that_addressed_it():
    [msg] = _channel().parse_aibot(_text("m1", "@机器人 /help", chattype="group"), "req-1")
    assert (msg.event_id, msg.chat_id, msg.chat_type, msg.user_id, msg.text) == \
        ("m1", "wrkSFfCgAAgroup", "group", "zhangsan", "/help")
    assert msg.mentioned and msg.reply_context == {"aibot": True, "req_id": "req-1", "chatid": "wrkSFfCgAAgroup"}


def test_mixed_voice_and_image_messages_become_text_and_attachments():
    channel = _channel()
    [mixed] = channel.parse_aibot({**_text("m2"), "msgtype": "mixed", "mixed": {"msg_item": [
        {"msgtype": "text", "text": {"content": "看这张"}},
        {"msgtype": "image", "image": {"url": "https://wework.qpic.cn/x.png"}}]}}, "r")
    assert mixed.text == "看这张" and [(a.kind, a.url) for a in mixed.attachments] == [
        ("image", "https://wework.qpic.cn/x.png")]
    [voice] = channel.parse_aibot({**_text("m3"), "msgtype": "voice", "voice": {"content": "语音转的文字"}}, "r")
    assert voice.text == "语音转的文字"
    [image] = channel.parse_aibot({**_text("m4"), "msgtype": "image", "image": {"url": "https://x/y"}}, "r")
    assert image.text == "[image]"
    assert channel.parse_aibot({**_text("m5"), "msgtype": "text", "text": {"content": "  "}}, "r") == []


@pytest.mark.parametrize("body", [
    [], {**_text("m"), "from": {}}, {**_text("m"), "chattype": "channel"}, {**_text(""), "msgid": ""},
    {**_text("m", chattype="group"), "chatid": None}, {**_text("m"), "aibotid": "another_bot"},
    {**_text("m"), "msgid": "x" * 500}])
def test_a_malformed_callback_is_a_payload_error(body):
    with pytest.raises(PayloadError):
        _channel().parse_aibot(body, "r")


# -- the connection ----------------------------------------------------------------------------
def test_a_message_is_stored_and_the_reply_answers_its_callback(platform, link):
    channel = _channel(platform)
    link.start(WeComLongConnection(channel))
    req_id = platform.message(_text("msg-1", "服务状态"))
    [msg] = link.wait_stored(1)
    assert (msg.event_id, msg.text, msg.reply_context["req_id"]) == ("msg-1", "服务状态", req_id)
    assert platform.subscriptions()[0]["body"] == {"bot_id": BOT_ID, "secret": BOT_SECRET}
    channel.send(_reply(msg))
    [sent] = platform.wait_delivered(1)
    assert sent == {"cmd": "aibot_respond_msg", "headers": {"req_id": req_id},
                    "body": {"msgtype": "stream", "stream": {"id": "d-1", "finish": True, "content": "好的"}}}


def test_a_refused_answer_is_pushed_to_the_chat_instead(platform, link):
    channel = _channel(platform)
    link.start(WeComLongConnection(channel))
    platform.message(_text("msg-2", chattype="group"))
    [msg] = link.wait_stored(1)
    platform.refuse_next["aibot_respond_msg"] = 846605
    channel.send(_reply(msg, "迟到的回复"))
    [sent] = platform.wait_delivered(1)
    assert sent["cmd"] == "aibot_send_msg" and sent["headers"]["req_id"].startswith("aibot_send_msg_")
    assert sent["body"] == {"chatid": "wrkSFfCgAAgroup", "msgtype": "markdown", "markdown": {"content": "迟到的回复"}}


def test_a_refused_push_is_a_delivery_error(platform, link):
    channel = _channel(platform)
    link.start(WeComLongConnection(channel))
    platform.message(_text("msg-3"))
    [msg] = link.wait_stored(1)
    platform.refuse_next.update({"aibot_respond_msg": 846605, "aibot_send_msg": 40058})
    with pytest.raises(DeliveryError, match="errcode 40058") as err:
        channel.send(_reply(msg))
    assert not err.value.retryable and platform.delivered == []


def test_a_process_without_the_connection_retries_the_reply_later():
    msg_context = {"aibot": True, "req_id": "r", "chatid": "zhangsan"}
    with pytest.raises(DeliveryError, match="not held by this process") as err:
        _channel().send(Reply("wecom", "zhangsan", "x", msg_context))
    assert err.value.retryable


def test_wrong_credentials_are_reported_without_the_secret(platform, link):
    link.start(WeComLongConnection(_channel(platform, bot_secret="not-the-secret")))
    assert link.wait_for(lambda: link.ended)
    assert "errcode 40001" in link.ended[0] and "not-the-secret" not in " ".join(link.ended)
    assert not any(state == "up" for state, _ in link.states)


def test_unanswered_heartbeats_end_the_connection_and_it_is_reopened(platform, link):
    connector = WeComLongConnection(_channel(platform))
    connector.heartbeat = 0.2
    platform.answer_pings = False
    link.start(connector)
    assert link.wait_for(lambda: link.ended) and "heartbeats" in link.ended[0]
    platform.answer_pings = True
    assert platform.wait(lambda: platform.pongs) and platform.opened >= 2
    platform.message(_text("msg-hb"))
    assert [m.event_id for m in link.wait_stored(1)] == ["msg-hb"]
    platform.assert_one_at_a_time()


def test_heartbeats_are_sent_and_answered(platform, link):
    connector = WeComLongConnection(_channel(platform))
    connector.heartbeat = 0.2
    link.start(connector)
    assert platform.wait(lambda: len(platform.frames(lambda f: f.get("cmd") == "ping")) >= 4)
    assert platform.opened == 1 and link.ended == []


def test_a_dropped_connection_is_reopened_and_subscribes_again(platform, link):
    link.start(WeComLongConnection(_channel(platform)))
    assert platform.wait(lambda: platform.subscriptions())
    platform.drop()
    assert platform.wait(lambda: len(platform.subscriptions()) == 2)
    platform.message(_text("msg-after"))
    assert [m.event_id for m in link.wait_stored(1)] == ["msg-after"]


def test_another_connection_taking_over_ends_this_one(platform, link):
    link.start(WeComLongConnection(_channel(platform)))
    assert platform.wait(lambda: platform.subscriptions())
    platform.event("enter_chat")
    platform.event("disconnected_event")
    assert platform.wait(lambda: len(platform.subscriptions()) == 2)
    assert "took over" in link.ended[0] and link.refused == []


@pytest.mark.parametrize("frame", ["not json", "[]", '{"cmd": "aibot_msg_callback"}',
                                   '{"cmd": "aibot_msg_callback", "headers": {"req_id": "r"}, "body": {"msgid": 1}}'])
def test_a_malformed_frame_is_refused_and_the_connection_kept(platform, link, frame):
    link.start(WeComLongConnection(_channel(platform)))
    assert platform.wait(lambda: platform.subscriptions())
    platform.push(frame)
    assert link.wait_for(lambda: link.refused)
    platform.message(_text("msg-kept"))
    assert [m.event_id for m in link.wait_stored(1)] == ["msg-kept"]
    assert platform.opened == 1 and len(link.refused) == 1


def test_a_failed_store_drops_the_connection_and_the_message_is_kept_when_sent_again(platform, link):
    link.fail_next_store(1)
    link.start(WeComLongConnection(_channel(platform)))
    platform.message(_text("msg-db"), req_id="cb-db")
    assert platform.wait_connections(2) and link.stored == []
    platform.message(_text("msg-db"), req_id="cb-db")
    assert [m.event_id for m in link.wait_stored(1)] == ["msg-db"]


def test_the_fake_speaks_to_wecoms_own_sdk_as_to_our_connector(platform, monkeypatch):
    """WeCom's Python SDK (wecom-aibot-python-sdk) subscribes to the fake, gets the callback and
    answers it with a stream reply of the same shape our channel sends. The SDK always passes a TLS
    context; the fake is plain ws:// on loopback, so the test client's context is switched off."""
    import aibot.ws
    from aibot import WSClient, WSClientOptions

    monkeypatch.setattr(aibot.ws, "_SSL_CONTEXT", None)

    client = WSClient(WSClientOptions(bot_id=BOT_ID, secret=BOT_SECRET, ws_url=platform.ws_url))
    loop = asyncio.new_event_loop()

    @client.on("message.text")
    async def on_text(frame):
        await client.reply_stream(frame, "sdk-stream", "收到: " + frame["body"]["text"]["content"], True)

    def serve() -> None:
        loop.run_until_complete(client.connect())
        loop.run_forever()
        event_loops.finish(loop)

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        req_id = platform.message(_text("msg-sdk", "你好"))
        [sdk_sent] = platform.wait_delivered(1)
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
        platform.drop()
    assert platform.subscriptions()[0]["body"] == {"bot_id": BOT_ID, "secret": BOT_SECRET}
    assert sdk_sent == {"cmd": "aibot_respond_msg", "headers": {"req_id": req_id},
                        "body": {"msgtype": "stream", "stream": {"id": "sdk-stream", "finish": True,
                                                                   "content": "收到: 你好"}}}
