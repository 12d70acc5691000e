"""Feishu / Lark end to end: events built by the documented algorithms (checked against Feishu's
published vector and lark-oapi's dispatcher) go in, replies arrive at a fake Feishu open API."""
from __future__ import annotations

import base64
import hashlib
import json
import time
from typing import Any

import pytest
import requests
import sqlalchemy as sa

from tests.support.fake_open_platforms import FakeFeishu, running, start_app
from tests.support.platform_requests import feishu_event, feishu_request, sample

APP_ID, APP_SECRET = "cli_test", "feishu-app-secret-for-tests"
TOKEN = "verification-token"          # what the sample payloads carry
ENCRYPT_KEY = "feishu-encrypt-key-for-tests"
MESSAGES = "/open-apis/im/v1/messages"


@pytest.fixture
def feishu():
    with running(FakeFeishu(APP_ID, APP_SECRET)) as server:
        yield server


def _start(live_app, make_config, fake_model, feishu, **section: Any):
    return start_app(live_app, make_config, fake_model, "feishu", {
        "app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": TOKEN, "bot_open_id": "ou_bot",
        "api_base": feishu.url, **section})


def _post(app, payload: Any, encrypt_key: str = "", **kw: Any) -> requests.Response:
    body, headers = feishu_request(payload, encrypt_key, **kw)
    return requests.post(app.url + "/webhooks/feishu", data=body, headers=headers, timeout=10)


def _raw(app, body: bytes, headers: dict[str, str] | None = None) -> requests.Response:
    return requests.post(app.url + "/webhooks/feishu", data=body,
                         headers={"Content-Type": "application/json", **(headers or {})}, timeout=10)


def _content(delivered: dict[str, Any]) -> Any:
    return json.loads(delivered["json"]["content"])


def _user_texts(fake_model) -> list[str]:
    return [r["json"]["messages"][-1]["content"] for r in fake_model.requests]


def test_published_vector_decrypts_with_our_cipher():
    from smartbot.channels.support.cipher import decrypt_cbc

    raw = base64.b64decode("P37w+VZImNgPEO1RBhJ6RtKl7n6zymIbEG1pReEzghk=")
    assert decrypt_cbc(hashlib.sha256(b"test key").digest(), raw[:16], raw[16:]) == b"hello world"


def test_lark_sdk_accepts_what_the_test_signer_builds():
    import lark_oapi as lark

    seen = []
    handler = (lark.EventDispatcherHandler.builder(ENCRYPT_KEY, TOKEN)
               .register_p2_im_message_receive_v1(lambda data: seen.append(data.event.message.message_id)).build())
    body, headers = feishu_request(feishu_event("feishu_p2p_text.json"), ENCRYPT_KEY)
    req = lark.RawRequest()
    req.uri, req.body, req.headers = "/webhooks/feishu", body, headers
    assert handler.do(req).status_code == 200
    assert seen == ["om_test1"]
    headers["X-Lark-Signature"] = "0" * 64
    assert handler.do(req).status_code != 200


def test_direct_message_gets_one_reply_to_that_message(live_app, make_config, fake_model, feishu):
    app = _start(live_app, make_config, fake_model, feishu)
    resp = _post(app, feishu_event("feishu_p2p_text.json"))
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    delivered = feishu.wait_delivered(1)
    time.sleep(0.4)
    assert len(feishu.delivered) == 1
    reply = delivered[0]
    assert reply["path"] == f"{MESSAGES}/om_test1/reply"
    token_answer = feishu.calls(FakeFeishu.TOKEN_PATH)
    assert len(token_answer) == 1 and token_answer[0]["json"] == {"app_id": APP_ID, "app_secret": APP_SECRET}
    assert reply["headers"]["authorization"].startswith("Bearer tok-")
    assert reply["json"]["msg_type"] == "post"
    assert _content(reply) == {"zh_cn": {"content": [[{"tag": "md", "text": "echo: 查看磁盘使用情况"}]]}}
    assert len(reply["json"]["uuid"]) == 36
    assert _user_texts(fake_model) == ["查看磁盘使用情况"]


def test_group_message_mentioning_the_bot_is_answered_without_the_mention(live_app, make_config, fake_model,
                                                                         feishu):
    app = _start(live_app, make_config, fake_model, feishu)
    assert _post(app, feishu_event("feishu_group_mention.json")).json()["status"] == "accepted"
    reply = feishu.wait_delivered(1)[0]
    assert reply["path"] == f"{MESSAGES}/om_test2/reply"
    assert _user_texts(fake_model) == ["今天的部署状态?"]


def test_group_messages_not_mentioning_the_bot_get_no_reply(live_app, make_config, fake_model, feishu):
    app = _start(live_app, make_config, fake_model, feishu)
    plain = feishu_event("feishu_group_mention.json", message_id="om_plain", mentions=[],
                         content=json.dumps({"text": "随便聊聊"}))
    other = feishu_event("feishu_group_mention.json", message_id="om_other", content=json.dumps(
        {"text": "@_user_1 你看一下"}), mentions=[{"key": "@_user_1", "id": {"open_id": "ou_alice"}, "name": "Alice"}])
    assert _post(app, plain).status_code == 200
    assert _post(app, other).status_code == 200
    time.sleep(1.0)
    assert feishu.delivered == [] and fake_model.calls() == 0


def test_group_trigger_always_answers_every_group_message(live_app, make_config, fake_model, feishu):
    app = _start(live_app, make_config, fake_model, feishu, group_trigger="always")
    event = feishu_event("feishu_group_mention.json", mentions=[], content=json.dumps({"text": "随便聊聊"}))
    assert _post(app, event).json()["status"] == "accepted"
    assert _content(feishu.wait_delivered(1)[0])["zh_cn"]["content"][0][0]["text"] == "echo: 随便聊聊"


@pytest.mark.parametrize("encrypt_key", ["", ENCRYPT_KEY], ids=["plain", "encrypted"])
def test_url_verification_answers_the_challenge(live_app, make_config, fake_model, feishu, encrypt_key):
    app = _start(live_app, make_config, fake_model, feishu, encrypt_key=encrypt_key)
    started = time.monotonic()
    resp = _post(app, sample("feishu_url_verification.json"), encrypt_key, signed=False)
    assert time.monotonic() - started < 1.0
    assert resp.status_code == 200
    assert resp.json() == {"challenge": "ajls384kdjx98XX"}
    forged = dict(sample("feishu_url_verification.json"), token="not-the-token")
    assert _post(app, forged, encrypt_key, signed=False).status_code == 401


def test_encrypted_signed_event_gets_one_reply(live_app, make_config, fake_model, feishu):
    app = _start(live_app, make_config, fake_model, feishu, encrypt_key=ENCRYPT_KEY)
    assert _post(app, feishu_event("feishu_p2p_text.json"), ENCRYPT_KEY).json()["status"] == "accepted"
    assert feishu.wait_delivered(1)[0]["path"] == f"{MESSAGES}/om_test1/reply"


def test_forged_and_stale_requests_are_refused_audited_and_never_parsed(live_app, make_config, fake_model, feishu):
    from smartbot.storage.tables import AuditLog
    from smartbot.telemetry import metrics

    app = _start(live_app, make_config, fake_model, feishu, encrypt_key=ENCRYPT_KEY)
    refused_before = metrics.value("webhook_refused_total", channel="feishu", reason="signature")
    event = feishu_event("feishu_p2p_text.json")
    body, headers = feishu_request(event, ENCRYPT_KEY)
    old = feishu_event("feishu_p2p_text.json")
    old["header"]["create_time"] = str(int((time.time() - 13 * 3600) * 1000))
    cases = {
        "signed with another key": _post(app, event, "another-encrypt-key"),
        "tampered body": _raw(app, body.replace(b'"}', b'A"}'), headers),
        "unsigned event": _post(app, event, ENCRYPT_KEY, signed=False),
        "plain body while encrypt_key is set": _post(app, event),
        "stale signature": _post(app, event, ENCRYPT_KEY, timestamp=int(time.time()) - 13 * 3600),
        "stale event": _post(app, old, ENCRYPT_KEY),
        "wrong verification token": _post(app, dict(event, header=dict(event["header"], token="x")), ENCRYPT_KEY),
    }
    for name, resp in cases.items():
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
        assert resp.json()["error"], name
    time.sleep(0.5)
    assert fake_model.calls() == 0 and feishu.requests == []
    with app.runtime.db.read() as conn:
        rows = conn.execute(sa.select(AuditLog.__table__.c.details)
                            .where(AuditLog.__table__.c.action == "webhook.refused")).all()
    assert rows and all(ENCRYPT_KEY not in r.details and APP_SECRET not in r.details for r in rows)
    assert metrics.value("webhook_refused_total", channel="feishu", reason="signature") - refused_before == len(cases)


def test_replay_under_a_new_event_id_gets_no_second_reply(live_app, make_config, fake_model, feishu):
    app = _start(live_app, make_config, fake_model, feishu)
    first = feishu_event("feishu_p2p_text.json")
    replay = feishu_event("feishu_p2p_text.json")          # same message_id, new event_id
    assert first["header"]["event_id"] != replay["header"]["event_id"]
    assert _post(app, first).json()["status"] == "accepted"
    assert _post(app, replay).json()["status"] == "duplicate"
    assert _post(app, first).json()["status"] == "duplicate"
    feishu.wait_delivered(1)
    time.sleep(0.5)
    assert len(feishu.delivered) == 1 and fake_model.calls() == 1


def test_malformed_bodies_get_400_and_nothing_else_happens(live_app, make_config, fake_model, feishu):
    app = _start(live_app, make_config, fake_model, feishu)
    no_id = feishu_event("feishu_p2p_text.json")
    del no_id["event"]["message"]["message_id"]
    cases = {
        "truncated json": _raw(app, b'{"schema": "2.0", "header": '),
        "not an object": _raw(app, b"[1, 2]"),
        "content is not json": _post(app, feishu_event("feishu_p2p_text.json", content="{not json")),
        "unpaired surrogate": _post(app, feishu_event("feishu_p2p_text.json", content='{"text": "a \\ud800"}')),
        "unpaired surrogate outside": _raw(app, json.dumps(feishu_event("feishu_p2p_text.json",
                                                                         user="\ud800")).encode()),
        "no message_id": _post(app, no_id),
        "empty body": _raw(app, b""),
    }
    for name, resp in cases.items():
        assert resp.status_code == 400, (name, resp.status_code, resp.text)
        assert resp.json()["error"], name
    time.sleep(0.5)
    assert fake_model.calls() == 0 and feishu.requests == []


def test_malformed_encrypted_bodies_get_one_and_the_same_401(live_app, make_config, fake_model, feishu):
    """Signed (so only a key holder could send them), yet each failure is answered alike: which
    step failed goes to the log, never to the sender (tests/security/test_attack_feishu.py)."""
    from tests.support.platform_requests import feishu_encrypt, feishu_signature

    app = _start(live_app, make_config, fake_model, feishu, encrypt_key=ENCRYPT_KEY)

    def signed(body: bytes) -> requests.Response:
        ts, nonce = str(int(time.time())), "n0nce"
        return _raw(app, body, {"X-Lark-Request-Timestamp": ts, "X-Lark-Request-Nonce": nonce,
                                "X-Lark-Signature": feishu_signature(ts, nonce, ENCRYPT_KEY, body)})

    bad_base64 = signed(b'{"encrypt": "not base64 at all!"}')
    not_json = signed(json.dumps({"encrypt": feishu_encrypt(ENCRYPT_KEY, "hello")}).encode())
    assert bad_base64.status_code == not_json.status_code == 401 and bad_base64.content == not_json.content
    assert "channels.feishu.encrypt_key" in bad_base64.json()["error"]
    assert fake_model.calls() == 0 and feishu.requests == []


def test_events_that_are_not_messages_are_acknowledged_and_ignored(live_app, make_config, fake_model, feishu):
    app = _start(live_app, make_config, fake_model, feishu)
    read = feishu_event("feishu_p2p_text.json")
    read["header"]["event_type"] = "im.message.message_read_v1"
    added = feishu_event("feishu_p2p_text.json")
    added["header"]["event_type"] = "im.chat.member.bot.added_v1"
    from_app = feishu_event("feishu_p2p_text.json", message_id="om_from_app")
    from_app["event"]["sender"]["sender_type"] = "app"
    sticker = feishu_event("feishu_p2p_text.json", message_id="om_sticker", message_type="sticker",
                           content=json.dumps({"file_key": "v2_sticker"}))
    for event in (read, added, from_app, sticker):
        resp = _post(app, event)
        assert resp.status_code == 200 and resp.json()["status"] == "ignored"
    time.sleep(0.5)
    assert feishu.delivered == [] and fake_model.calls() == 0


def test_rate_limited_reply_is_retried_after_feishus_hint(live_app, make_config, fake_model, feishu):
    feishu.script(MESSAGES, 429, {"code": 99991400, "msg": "request trigger frequency limit"},
                  {"x-ogw-ratelimit-reset": "1"})
    feishu.script(MESSAGES, 400, {"code": 230020, "msg": "This operation triggers the frequency limit."})
    app = _start(live_app, make_config, fake_model, feishu)
    _post(app, feishu_event("feishu_p2p_text.json"))
    delivered = feishu.wait_delivered(1, timeout=15)
    attempts = feishu.calls(MESSAGES)
    assert len(delivered) == 1 and len(attempts) == 3
    assert attempts[1]["at"] - attempts[0]["at"] >= 0.9
    assert {a["json"]["uuid"] for a in attempts} == {delivered[0]["json"]["uuid"]}


def test_token_is_cached_and_refreshed_once_when_feishu_rejects_it(live_app, make_config, fake_model, feishu):
    app = _start(live_app, make_config, fake_model, feishu)
    for i in (1, 2):
        _post(app, feishu_event("feishu_p2p_text.json", message_id=f"om_cached_{i}"))
        feishu.wait_delivered(i)
    assert feishu.tokens_issued(FakeFeishu.TOKEN_PATH) == 1
    feishu.revoke_tokens()
    _post(app, feishu_event("feishu_p2p_text.json", message_id="om_after_revoke"))
    assert len(feishu.wait_delivered(3)) == 3
    assert feishu.tokens_issued(FakeFeishu.TOKEN_PATH) == 2
    assert len(feishu.calls(MESSAGES)) == 4          # the rejected try, then the retry with the new token


def test_token_is_refreshed_before_it_expires(live_app, make_config, fake_model):
    with running(FakeFeishu(APP_ID, APP_SECRET, token_lifetime=2)) as server:
        app = _start(live_app, make_config, fake_model, server)
        _post(app, feishu_event("feishu_p2p_text.json", message_id="om_early_1"))
        server.wait_delivered(1)
        time.sleep(1.8)           # past lifetime - lifetime/5: the cache must fetch before reuse
        server.revoke_tokens()    # the old token would now be rejected
        _post(app, feishu_event("feishu_p2p_text.json", message_id="om_early_2"))
        assert len(server.wait_delivered(2)) == 2
        assert server.tokens_issued(FakeFeishu.TOKEN_PATH) == 2
        assert len(server.calls(MESSAGES)) == 2      # no rejected send: the token was new in time


def test_long_reply_is_split_into_ordered_parts(live_app, make_config, fake_model, feishu):
    from tests.support.fake_model import FakeModel

    long_text = "\n".join(f"第{i}行: " + "内容" * 60 for i in range(80))   # ~10,000 characters
    answer = fake_model.answer({"messages": [{"role": "user", "content": ""}]})
    answer["choices"][0]["message"]["content"] = long_text
    fake_model.script({"body": answer})
    app = _start(live_app, make_config, fake_model, feishu)
    _post(app, feishu_event("feishu_p2p_text.json"))
    time.sleep(0.3)
    parts = [_content(d)["zh_cn"]["content"][0][0]["text"] for d in feishu.wait_delivered(3)]
    time.sleep(0.3)
    assert len(feishu.delivered) == 3 and all(len(p) <= 4000 for p in parts)
    assert "\n".join(parts) == long_text


def test_bad_app_secret_fails_the_reply_for_good_with_a_reason(live_app, make_config, fake_model, feishu):
    from smartbot.storage.tables import AuditLog

    app = _start(live_app, make_config, fake_model, feishu, app_secret="wrong-secret")
    _post(app, feishu_event("feishu_p2p_text.json"))
    deadline = time.monotonic() + 10
    rows: list[Any] = []
    while not rows and time.monotonic() < deadline:
        time.sleep(0.2)
        with app.runtime.db.read() as conn:
            rows = conn.execute(sa.select(AuditLog.__table__.c.details)
                                .where(AuditLog.__table__.c.action == "reply.failed")).all()
    assert rows, "the reply was not given up"
    details = json.loads(rows[0].details)
    assert "channels.feishu.app_id / app_secret" in details["reason"]
    assert "wrong-secret" not in rows[0].details and feishu.delivered == []


def _inbox_payloads(app) -> list[dict[str, Any]]:
    with app.runtime.db.read() as conn:
        return [json.loads(r.payload) for r in conn.execute(sa.text("SELECT payload FROM inbox ORDER BY id"))]


def test_rich_text_and_images_arrive_as_text_and_attachments(live_app, make_config, fake_model, feishu):
    app = _start(live_app, make_config, fake_model, feishu)
    post = {"title": "日志", "content": [
        [{"tag": "at", "user_id": "@_user_1", "user_name": "SmartBot"}, {"tag": "text", "text": " 总结一下"}],
        [{"tag": "img", "image_key": "img_v2_log"}]]}
    mention = [{"key": "@_user_1", "id": {"open_id": "ou_bot"}, "name": "SmartBot"}]
    _post(app, feishu_event("feishu_group_mention.json", message_id="om_post", message_type="post",
                            content=json.dumps(post, ensure_ascii=False), mentions=mention))
    _post(app, feishu_event("feishu_p2p_text.json", message_id="om_image", message_type="image",
                            content=json.dumps({"image_key": "img_v2_photo"})))
    feishu.wait_delivered(2)
    # The fake serves no files: the image alone is not sent to the model (the user is told).
    assert _user_texts(fake_model) == ["日志\n总结一下"]
    attachments = {p["message_id"]: p["attachments"] for p in _inbox_payloads(app)}
    assert attachments["om_post"] == [{"kind": "image", "name": "", "url": "", "key": "img_v2_log", "mime": "", "size": 0}]
    assert attachments["om_image"] == [{"kind": "image", "name": "", "url": "", "key": "img_v2_photo", "mime": "",
                                        "size": 0}]
