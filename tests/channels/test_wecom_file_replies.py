"""An image or PDF in the model's answer on WeCom: the self-built app uploads it (/cgi-bin/media/upload,
multipart, the token in the query) and sends an image or file message naming the media id; the AI bot
uploads it over its long connection instead (more in test_wecom_aibot_file_replies)."""
from __future__ import annotations

import base64
from typing import Any, Iterator

import pytest
import requests
from wechatpy.enterprise.crypto import WeChatCrypto

from tests.pipeline.test_media import pdf_with, png
from tests.support.connect_mode import connect_config
from tests.support.fake_cards_dingtalk_wecom import FakeWeComFiles
from tests.support.fake_open_platforms import running, start_app
from tests.support.fake_wecom_aibot import FakeWeComAiBot
from tests.support.platform_clients import model_answer, quiet_for
from tests.support.platform_requests import wecom_message, wecom_post
from tests.support.recording_link import serving

CORP_ID, SECRET, AGENT_ID = "ww_test_corp", "wecom-app-secret-for-tests", 1000002
TOKEN, AES_KEY = "wecom-callback-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
BOT_ID, BOT_SECRET = "aibot_files_out", "aibot-files-out-secret"


@pytest.fixture
def wecom() -> Iterator[FakeWeComFiles]:
    with running(FakeWeComFiles(CORP_ID, SECRET)) as server:
        yield server


def _start(live_app, make_config, fake_model, wecom):
    return start_app(live_app, make_config, fake_model, "wecom", {
        "corp_id": CORP_ID, "agent_id": AGENT_ID, "secret": SECRET, "token": TOKEN, "encoding_aes_key": AES_KEY,
        "api_base": wecom.url})


def _ask(app, msg_id: str, text: str) -> None:
    query, body = wecom_post(WeChatCrypto(TOKEN, AES_KEY, CORP_ID), wecom_message(MsgId=msg_id, Content=text))
    assert requests.post(app.url + "/webhooks/wecom", params=query, data=body, timeout=10).status_code == 200


def _data_url(mime: str, data: bytes) -> str:
    return f"data:{mime};base64,{base64.b64encode(data).decode()}"


@pytest.mark.parametrize("mime, data, kind", [("image/png", png(4, 4), "image"),
                                               ("application/pdf", pdf_with("q3"), "file")])
def test_the_app_uploads_the_file_and_sends_it_by_media_id(live_app, make_config, fake_model, wecom, mime, data,
                                                            kind):
    app = _start(live_app, make_config, fake_model, wecom)
    fake_model.script(model_answer(f"Here it is: {_data_url(mime, data)}"))
    _ask(app, "1234567890123456789", "send it")
    sent = wecom.wait_delivered(2)
    quiet_for(0.5)
    assert [(u["type"], u["bytes"]) for u in wecom.uploads] == [(kind, data)]
    by_kind = {m["json"]["msgtype"]: m["json"] for m in wecom.delivered}
    assert by_kind[kind][kind] == {"media_id": wecom.uploads[0]["media_id"]}
    assert by_kind[kind]["touser"] == by_kind["markdown"]["touser"] and by_kind[kind]["agentid"] == AGENT_ID
    assert by_kind["markdown"]["markdown"]["content"].startswith("Here it is: [file-1.") and len(sent) == 2
    assert all(c["query"]["access_token"] for c in wecom.calls("/cgi-bin/media/upload"))


def test_a_stale_token_on_upload_is_renewed_once(live_app, make_config, fake_model, wecom):
    app = _start(live_app, make_config, fake_model, wecom)
    fake_model.script(model_answer(_data_url("image/png", png())))
    wecom.script("/cgi-bin/media/upload", 200, {"errcode": 42001, "errmsg": "access_token expired"})
    _ask(app, "1234567890123456790", "draw")
    wecom.wait_delivered(2)
    uploads = [r for r in wecom.requests if r["path"] == "/cgi-bin/media/upload"]     # accepted or not
    assert [r.get("scripted") for r in uploads] == [200, None] and len(wecom.uploads) == 1


@pytest.fixture
def aibot() -> Iterator[FakeWeComAiBot]:
    yield from serving(FakeWeComAiBot(BOT_ID, BOT_SECRET))


def test_the_ai_bot_sends_the_image_and_keeps_the_label_in_the_text(live_app, make_config, fake_model, aibot):
    live_app(connect_config(make_config, fake_model, "wecom", bot_id=BOT_ID, bot_secret=BOT_SECRET,
                            aibot_url=aibot.ws_url))
    fake_model.script(model_answer(f"Chart: ![disk chart]({_data_url('image/png', png())})"))
    body: dict[str, Any] = {"msgid": "aibot-file-out", "aibotid": BOT_ID, "chattype": "single",
                            "from": {"userid": "lisi"}, "msgtype": "text", "text": {"content": "draw"}}
    aibot.message(body)
    aibot.wait_delivered(2)
    quiet_for(0.5)
    finals = [f["body"]["stream"]["content"] for f in aibot.delivered
              if f["cmd"] == "aibot_respond_msg" and f["body"]["stream"]["finish"]]
    assert finals == ["Chart: [disk-chart-1.png]"]
    [image] = aibot.media_messages()
    assert image["msgtype"] == "image" and aibot.media()[image["image"]["media_id"]] == png()
    assert "base64" not in str(aibot.delivered)
