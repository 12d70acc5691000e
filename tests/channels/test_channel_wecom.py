"""WeCom self-built app end to end: wechatpy (the SDK WeCom's docs point to) encrypts and signs the
callbacks; replies arrive at a fake WeCom API on loopback."""
from __future__ import annotations

import time
from typing import Any

import pytest
import requests
from wechatpy.enterprise.crypto import WeChatCrypto

from tests.support.fake_open_platforms import FakeWeCom, running, start_app
from tests.support.platform_requests import wecom_get, wecom_message, wecom_post

CORP_ID, SECRET, AGENT_ID = "ww_test_corp", "wecom-app-secret-for-tests", 1000002
TOKEN, AES_KEY = "wecom-callback-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
SEND = FakeWeCom.SEND_PATH


@pytest.fixture
def wecom():
    with running(FakeWeCom(CORP_ID, SECRET)) as server:
        yield server


@pytest.fixture
def crypto() -> WeChatCrypto:
    return WeChatCrypto(TOKEN, AES_KEY, CORP_ID)


def _section(wecom, **extra: Any) -> dict[str, Any]:
    return {"corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN,
            "encoding_aes_key": AES_KEY, "api_base": wecom.url, **extra}


def _start(live_app, make_config, fake_model, wecom, **extra: Any):
    return start_app(live_app, make_config, fake_model, "wecom", _section(wecom, **extra))


def _post(app, crypto: WeChatCrypto, xml: str, timestamp: int | None = None) -> requests.Response:
    query, body = wecom_post(crypto, xml, timestamp)
    return requests.post(app.url + "/webhooks/wecom", params=query, data=body,
                         headers={"Content-Type": "text/xml"}, timeout=10)


def _raw(app, body: bytes, query: dict[str, str] | None = None) -> requests.Response:
    query = query or {"msg_signature": "0" * 40, "timestamp": str(int(time.time())), "nonce": "123"}
    return requests.post(app.url + "/webhooks/wecom", params=query, data=body, timeout=10)


def test_published_url_check_vector_is_answered(live_app, make_config, fake_model, wecom):
    # WeCom's documented example: token QDG6eK, corp wx5823bf96d3bd56c7, its EncodingAESKey, a 2014 timestamp.
    section = _section(wecom, corp_id="wx5823bf96d3bd56c7", token="QDG6eK",
                       encoding_aes_key="jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", tolerance_seconds=1e10)
    app = live_app(make_config(model=fake_model, channels={"wecom": section}))
    resp = app.get("/webhooks/wecom", params={
        "msg_signature": "5c45ff5e21c57e6ad56bac8758b79b1d9ac89fd3", "timestamp": "1409659589", "nonce": "263014780",
        "echostr": "P9nAzCzyDtyTWESHep1vC5X9xho/qYX3Zpb4yKa9SKld1DsH3Iyt3tP3zNdtp+4RPcs8TgAE7OaBO+FZXvnaqQ=="})
    assert resp.status_code == 200
    assert resp.text == "1616140317555161061"


def test_url_check_answers_the_decrypted_echostr(live_app, make_config, fake_model, wecom, crypto):
    app = _start(live_app, make_config, fake_model, wecom)
    query = wecom_get(crypto, "5927782489442352469")
    resp = app.get("/webhooks/wecom", params=query)
    assert resp.status_code == 200 and resp.text == "5927782489442352469"
    assert resp.headers["Content-Type"].startswith("text/plain")
    forged = dict(query, msg_signature="f" * 40)
    assert app.get("/webhooks/wecom", params=forged).status_code == 401
    other_corp = wecom_get(WeChatCrypto(TOKEN, AES_KEY, "ww_other_corp"), "5927782489442352469")
    assert app.get("/webhooks/wecom", params=other_corp).status_code == 401


def test_text_message_gets_one_reply(live_app, make_config, fake_model, wecom, crypto):
    app = _start(live_app, make_config, fake_model, wecom)
    resp = _post(app, crypto, wecom_message())
    assert resp.status_code == 200 and resp.text == ""
    reply = wecom.wait_delivered(1)[0]
    time.sleep(0.4)
    assert len(wecom.delivered) == 1
    token_call = wecom.calls(FakeWeCom.TOKEN_PATH)
    assert len(token_call) == 1 and token_call[0]["query"] == {"corpid": CORP_ID, "corpsecret": SECRET}
    assert reply["query"]["access_token"].startswith("tok-")
    assert reply["json"] == {"touser": "zhangsan", "msgtype": "markdown", "agentid": AGENT_ID,
                             "markdown": {"content": "echo: 查看负载"}}


def test_events_are_acknowledged_and_ignored(live_app, make_config, fake_model, wecom, crypto):
    app = _start(live_app, make_config, fake_model, wecom)
    resp = _post(app, crypto, wecom_message("wecom_event_enter_agent.xml"))
    assert resp.status_code == 200 and resp.text == ""
    other_agent = wecom_message(MsgId="7450000000000000099", AgentID="1000099")
    assert _post(app, crypto, other_agent).status_code == 200
    time.sleep(0.5)
    assert fake_model.calls() == 0 and wecom.requests == []


def test_forged_stale_and_misaddressed_callbacks_are_refused(live_app, make_config, fake_model, wecom, crypto):
    app = _start(live_app, make_config, fake_model, wecom)
    query, body = wecom_post(crypto, wecom_message())
    cases = {
        "wrong signature": _raw(app, body, dict(query, msg_signature="a" * 40)),
        "signed with another token": _post(app, WeChatCrypto("not-the-token", AES_KEY, CORP_ID), wecom_message()),
        "another corp": _post(app, WeChatCrypto(TOKEN, AES_KEY, "ww_other_corp"), wecom_message()),
        "another aes key": _post(app, WeChatCrypto(TOKEN, "B" * 43, CORP_ID), wecom_message()),
        "stale": _post(app, crypto, wecom_message(), timestamp=int(time.time()) - 3600),
        "no query": requests.post(app.url + "/webhooks/wecom", data=body, timeout=10),
    }
    for name, resp in cases.items():
        assert resp.status_code == 401, (name, resp.status_code, resp.text)
    assert "corp_id" in cases["another corp"].json()["error"]
    assert "encoding_aes_key" in cases["another aes key"].json()["error"]
    time.sleep(0.4)
    assert fake_model.calls() == 0 and wecom.requests == []


def test_retried_callback_gets_one_reply(live_app, make_config, fake_model, wecom, crypto):
    app = _start(live_app, make_config, fake_model, wecom)
    xml = wecom_message()
    for _ in range(3):       # WeCom retries with a new timestamp and nonce, the same MsgId
        assert _post(app, crypto, xml).status_code == 200
    wecom.wait_delivered(1)
    time.sleep(0.5)
    assert len(wecom.delivered) == 1 and fake_model.calls() == 1


BOMB = (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY a "aaaaaaaaaa"><!ENTITY b "&a;&a;&a;&a;&a;&a;&a;&a;">'
        b'<!ENTITY c "&b;&b;&b;&b;&b;&b;&b;&b;">]><xml><Encrypt>&c;</Encrypt></xml>')
EXTERNAL = (b'<?xml version="1.0"?><!DOCTYPE xml [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
            b'<xml><Encrypt>&x;</Encrypt></xml>')


def test_malformed_and_hostile_xml_gets_400_and_nothing_else(live_app, make_config, fake_model, wecom, crypto):
    app = _start(live_app, make_config, fake_model, wecom)
    inner_broken = wecom_post(crypto, "<xml><MsgType>text</MsgType><Content>unclosed</xml>")
    inner_bomb = wecom_post(crypto, BOMB.decode())
    cases = {
        "truncated": _raw(app, b"<xml><Encrypt>abc"),
        "not xml": _raw(app, b'{"json": true}'),
        "entity expansion": _raw(app, BOMB),
        "external entity": _raw(app, EXTERNAL),
        "no Encrypt element": _raw(app, b"<xml><ToUserName>x</ToUserName></xml>"),
        "decrypted xml is broken": requests.post(app.url + "/webhooks/wecom", params=inner_broken[0],
                                                 data=inner_broken[1], timeout=10),
        "decrypted xml has entities": requests.post(app.url + "/webhooks/wecom", params=inner_bomb[0],
                                                    data=inner_bomb[1], timeout=10),
    }
    for name, resp in cases.items():
        assert resp.status_code == 400, (name, resp.status_code, resp.text)
        assert resp.json()["error"], name
    time.sleep(0.4)
    assert fake_model.calls() == 0 and wecom.requests == []


def test_rate_limit_is_retried_and_an_expired_token_refreshed_once(live_app, make_config, fake_model, wecom, crypto):
    wecom.script(SEND, 200, {"errcode": 45009, "errmsg": "api freq out of limit"})
    app = _start(live_app, make_config, fake_model, wecom)
    _post(app, crypto, wecom_message(MsgId="7450000000000000002"))
    assert len(wecom.wait_delivered(1, timeout=15)) == 1
    assert len(wecom.calls(SEND)) == 2
    _post(app, crypto, wecom_message(MsgId="7450000000000000003"))
    wecom.wait_delivered(2)
    assert len(wecom.calls(FakeWeCom.TOKEN_PATH)) == 1          # cached between sends
    wecom.revoke_tokens()                                        # the next send gets errcode 42001
    _post(app, crypto, wecom_message(MsgId="7450000000000000004"))
    assert len(wecom.wait_delivered(3)) == 3
    assert len(wecom.calls(FakeWeCom.TOKEN_PATH)) == 2 and len(wecom.calls(SEND)) == 5


def test_long_reply_is_split_to_2048_bytes(live_app, make_config, fake_model, wecom, crypto):
    long_text = "负载" * 2500                                  # 15,000 bytes, no break to split at
    answer = fake_model.answer({"messages": [{"role": "user", "content": ""}]})
    answer["choices"][0]["message"]["content"] = long_text
    fake_model.script({"body": answer})
    app = _start(live_app, make_config, fake_model, wecom)
    _post(app, crypto, wecom_message())
    time.sleep(0.3)
    parts = [d["json"]["markdown"]["content"] for d in wecom.wait_delivered(8)]
    time.sleep(0.3)
    assert len(wecom.delivered) == 8
    assert all(len(p.encode()) <= 2048 for p in parts) and "".join(parts) == long_text


def test_bad_encoding_aes_key_stops_start_up_naming_the_key(make_config, wecom):
    from smartbot.settings import loading
    from smartbot.errors import ConfigError

    with pytest.raises(ConfigError) as err:
        loading.load(make_config(channels={"wecom": _section(wecom, encoding_aes_key="too-short")}))
    assert "channels.wecom.encoding_aes_key" in str(err.value) and "43" in str(err.value)
    assert "too-short" not in str(err.value)


def test_image_and_voice_messages_are_noted_and_answered(live_app, make_config, fake_model, wecom, crypto):
    app = _start(live_app, make_config, fake_model, wecom)
    image = ("<xml><ToUserName><![CDATA[ww_test_corp]]></ToUserName><FromUserName><![CDATA[lisi]]></FromUserName>"
             f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[image]]></MsgType>"
             "<PicUrl><![CDATA[https://wework.qpic.cn/x.jpg]]></PicUrl><MediaId><![CDATA[media_1]]></MediaId>"
             "<MsgId>7450000000000000010</MsgId><AgentID>1000002</AgentID></xml>")
    voice = (image.replace("<![CDATA[image]]>", "<![CDATA[voice]]>")
             .replace("7450000000000000010", "7450000000000000011")
             .replace("<MsgId>", "<Recognition><![CDATA[重启服务]]></Recognition><MsgId>"))
    _post(app, crypto, image)
    _post(app, crypto, voice)
    wecom.wait_delivered(2)
    # The fake serves no media: the image alone is not sent to the model (the user is told).
    assert [r["json"]["messages"][-1]["content"] for r in fake_model.requests] == ["重启服务"]
