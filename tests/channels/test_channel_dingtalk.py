"""DingTalk enterprise robot end to end: callbacks signed as the documents say go in, replies arrive
at a fake DingTalk (session webhook while valid, open API after) on loopback."""
from __future__ import annotations

import json
import time
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.support.fake_open_platforms import FakeDingTalk, running, start_app
from tests.support.platform_requests import dingtalk_headers, dingtalk_message

APP_KEY, APP_SECRET = "dingapp_test", "dingtalk-app-secret-for-tests"
GROUP_SEND, DIRECT_SEND = "/v1.0/robot/groupMessages/send", "/v1.0/robot/oToMessages/batchSend"


@pytest.fixture
def dingtalk():
    with running(FakeDingTalk(APP_KEY, APP_SECRET)) as server:
        yield server


def _start(live_app, make_config, fake_model, dingtalk, **section: Any):
    return start_app(live_app, make_config, fake_model, "dingtalk", {
        "app_key": APP_KEY, "app_secret": APP_SECRET, "api_base": dingtalk.url,
        "session_webhook_hosts": [dingtalk.url], **section})       # the fake's http origin, on loopback


def _post(app, message: Any, secret: str = APP_SECRET, timestamp_ms: int | None = None) -> requests.Response:
    body = message if isinstance(message, bytes) else json.dumps(message, ensure_ascii=False).encode()
    return requests.post(app.url + "/webhooks/dingtalk", data=body, headers=dingtalk_headers(secret, timestamp_ms),
                         timeout=10)


def _expired(message: dict[str, Any]) -> dict[str, Any]:
    message["sessionWebhookExpiredTime"] = int((time.time() + 30) * 1000)   # inside the safety margin
    return message


def test_direct_message_gets_one_reply_through_the_session_webhook(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    resp = _post(app, dingtalk_message(conversationType="1", msgId="msgDirect1", text={"content": "服务状态"},
                                       sessionWebhook=dingtalk.session_webhook))
    assert resp.status_code == 200 and resp.text == ""
    reply = dingtalk.wait_delivered(1)[0]
    time.sleep(0.4)
    assert len(dingtalk.delivered) == 1
    assert reply["path"] == FakeDingTalk.SESSION_PATH and reply["query"] == {"session": "test-session"}
    assert reply["json"] == {"msgtype": "markdown", "markdown": {"title": "echo: 服务状态", "text": "echo: 服务状态"}}
    assert dingtalk.calls(FakeDingTalk.TOKEN_PATH) == []


def test_group_at_message_is_answered_and_unaddressed_ones_are_not(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    assert _post(app, dingtalk_message(msgId="msgNotAt", isInAtList=False, text={"content": "大家好"},
                                       sessionWebhook=dingtalk.session_webhook)).status_code == 200
    assert _post(app, dingtalk_message(sessionWebhook=dingtalk.session_webhook)).status_code == 200
    assert dingtalk.wait_delivered(1)[0]["json"]["markdown"]["text"] == "echo: 服务状态"
    time.sleep(0.8)
    assert len(dingtalk.delivered) == 1
    assert [r["json"]["messages"][-1]["content"] for r in fake_model.requests] == ["服务状态"]


def test_group_trigger_always_answers_unaddressed_group_messages(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk, group_trigger="always")
    _post(app, dingtalk_message(isInAtList=False, sessionWebhook=dingtalk.session_webhook))
    assert len(dingtalk.wait_delivered(1)) == 1


def test_expired_session_webhook_falls_back_to_the_open_api(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    _post(app, _expired(dingtalk_message(sessionWebhook=dingtalk.session_webhook)))
    _post(app, _expired(dingtalk_message(conversationType="1", msgId="msgDirect2",
                                         sessionWebhook=dingtalk.session_webhook)))
    delivered = {d["path"]: d for d in dingtalk.wait_delivered(2)}
    assert set(delivered) == {GROUP_SEND, DIRECT_SEND}
    token = dingtalk.calls(FakeDingTalk.TOKEN_PATH)
    assert len(token) == 1 and token[0]["json"] == {"appKey": APP_KEY, "appSecret": APP_SECRET}
    group, direct = delivered[GROUP_SEND], delivered[DIRECT_SEND]
    assert group["headers"]["x-acs-dingtalk-access-token"].startswith("tok-")
    assert {k: group["json"][k] for k in ("robotCode", "openConversationId", "msgKey")} == {
        "robotCode": "dingrobot_test", "openConversationId": "cidTEST==", "msgKey": "sampleMarkdown"}
    assert json.loads(group["json"]["msgParam"]) == {"title": "echo: 服务状态", "text": "echo: 服务状态"}
    assert direct["json"]["userIds"] == ["staff001"] and direct["json"]["robotCode"] == "dingrobot_test"


def test_session_webhook_on_another_host_is_refused_and_audited(live_app, make_config, fake_model, dingtalk):
    from smartbot.storage.tables import AuditLog

    app = _start(live_app, make_config, fake_model, dingtalk)
    resp = _post(app, dingtalk_message(sessionWebhook="https://collector.example.net/robot/sendBySession?session=x"))
    assert resp.status_code == 400
    assert "session_webhook_hosts" in resp.json()["error"] and "collector.example.net" in resp.json()["error"]
    with app.runtime.db.read() as conn:
        rows = conn.execute(sa.select(AuditLog.__table__.c.details)
                            .where(AuditLog.__table__.c.action == "webhook.refused")).all()
    assert len(rows) == 1 and "collector.example.net" in rows[0].details and "session=x" not in rows[0].details
    time.sleep(0.4)
    assert fake_model.calls() == 0 and dingtalk.requests == []


def test_forged_and_stale_callbacks_are_refused(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    message = dingtalk_message(sessionWebhook=dingtalk.session_webhook)
    now_ms = int(time.time() * 1000)
    unsigned = requests.post(app.url + "/webhooks/dingtalk", json=message, timeout=10)
    cases = {
        "no headers": unsigned,
        "another secret": _post(app, message, secret="not-the-app-secret"),
        "two hours old": _post(app, message, timestamp_ms=now_ms - 7200 * 1000),
        "two hours ahead": _post(app, message, timestamp_ms=now_ms + 7200 * 1000),
    }
    for name, resp in cases.items():
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
    assert "window" in cases["two hours old"].json()["error"]
    time.sleep(0.4)
    assert fake_model.calls() == 0 and dingtalk.requests == []


def test_resent_callback_gets_one_reply(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    message = dingtalk_message(sessionWebhook=dingtalk.session_webhook)
    for _ in range(3):
        assert _post(app, message).status_code == 200
    dingtalk.wait_delivered(1)
    time.sleep(0.5)
    assert len(dingtalk.delivered) == 1 and fake_model.calls() == 1


def test_malformed_callbacks_get_400_and_nothing_else(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    no_id = dingtalk_message(sessionWebhook=dingtalk.session_webhook)
    del no_id["msgId"]
    for body in (b'{"msgtype": "text", "text": ', b"[]", no_id, b""):
        resp = _post(app, body)
        assert resp.status_code == 400, (body, resp.text)
        assert resp.json()["error"]
    time.sleep(0.3)
    assert fake_model.calls() == 0 and dingtalk.requests == []


def test_callbacks_that_are_not_user_messages_are_ignored(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    own = dingtalk_message(msgId="msgOwn", senderId="$:LWCP_v1:$BOT")
    unknown = dingtalk_message(msgId="msgUnknown", msgtype="interactiveCard")
    no_conversation = dingtalk_message(msgId="msgNoConv", conversationType="3")
    for message in (own, unknown, no_conversation):
        assert _post(app, message).status_code == 200
    time.sleep(0.5)
    assert fake_model.calls() == 0 and dingtalk.delivered == []


def test_rate_limited_replies_are_retried(live_app, make_config, fake_model, dingtalk):
    dingtalk.script(FakeDingTalk.SESSION_PATH, 200, {"errcode": 130101, "errmsg": "send too fast"})
    dingtalk.script(GROUP_SEND, 429, {"code": "Throttling", "message": "too many requests"}, {"Retry-After": "1"})
    app = _start(live_app, make_config, fake_model, dingtalk)
    _post(app, dingtalk_message(msgId="msgLimited1", sessionWebhook=dingtalk.session_webhook))
    _post(app, _expired(dingtalk_message(msgId="msgLimited2", conversationId="cidOther==",
                                         sessionWebhook=dingtalk.session_webhook)))
    delivered = dingtalk.wait_delivered(2, timeout=15)
    assert sorted(d["path"] for d in delivered) == sorted([FakeDingTalk.SESSION_PATH, GROUP_SEND])
    assert len(dingtalk.calls(FakeDingTalk.SESSION_PATH)) == 2 and len(dingtalk.calls(GROUP_SEND)) == 2
    limited = dingtalk.calls(GROUP_SEND)
    assert limited[1]["at"] - limited[0]["at"] >= 0.9


def test_rejected_token_is_refreshed_once_and_cached_otherwise(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    for i in (1, 2):
        _post(app, _expired(dingtalk_message(msgId=f"msgTok{i}", sessionWebhook=dingtalk.session_webhook)))
        dingtalk.wait_delivered(i)
    assert len(dingtalk.calls(FakeDingTalk.TOKEN_PATH)) == 1
    dingtalk.revoke_tokens()
    _post(app, _expired(dingtalk_message(msgId="msgTok3", sessionWebhook=dingtalk.session_webhook)))
    assert len(dingtalk.wait_delivered(3)) == 3
    assert len(dingtalk.calls(FakeDingTalk.TOKEN_PATH)) == 2 and len(dingtalk.calls(GROUP_SEND)) == 4


def test_long_reply_is_split_by_bytes(live_app, make_config, fake_model, dingtalk):
    long_text = "\n".join(f"第{i}行:" + "磁盘使用情况正常" * 20 for i in range(50))     # ~24,000 bytes
    answer = fake_model.answer({"messages": [{"role": "user", "content": ""}]})
    answer["choices"][0]["message"]["content"] = long_text
    fake_model.script({"body": answer})
    app = _start(live_app, make_config, fake_model, dingtalk)
    _post(app, dingtalk_message(sessionWebhook=dingtalk.session_webhook))
    time.sleep(0.3)
    parts = [d["json"]["markdown"]["text"] for d in dingtalk.wait_delivered(5)]
    time.sleep(0.3)
    assert len(dingtalk.delivered) == 5
    assert all(len(p.encode()) <= 6000 for p in parts)
    assert "\n".join(parts) == long_text


def test_rich_text_and_pictures_arrive_as_text_and_attachments(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    rich = {"richText": [{"text": "看看这个截图"}, {"downloadCode": "dl_code_1", "type": "picture"}]}
    _post(app, dingtalk_message(msgId="msgRich", msgtype="richText", content=rich,
                                sessionWebhook=dingtalk.session_webhook))
    _post(app, dingtalk_message(msgId="msgPic", msgtype="picture", content={"downloadCode": "dl_code_2"},
                                sessionWebhook=dingtalk.session_webhook))
    dingtalk.wait_delivered(2)
    # The fake's file API has no such file: the picture alone is not sent to the model (the user is told).
    assert [r["json"]["messages"][-1]["content"] for r in fake_model.requests] == ["看看这个截图"]
    with app.runtime.db.read() as conn:
        payloads = {json.loads(r.payload)["message_id"]: json.loads(r.payload)
                    for r in conn.execute(sa.text("SELECT payload FROM inbox"))}
    assert payloads["msgRich"]["attachments"][0]["key"] == "dl_code_1"
    assert payloads["msgPic"]["attachments"][0] == {"kind": "image", "name": "", "url": "", "key": "dl_code_2",
                                                   "mime": "", "size": 0}
