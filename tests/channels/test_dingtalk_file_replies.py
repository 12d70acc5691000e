"""An image or PDF in the model's answer reaches DingTalk as an uploaded file: the older API's
/media/upload (multipart, the access token in the query) answers a media id, which an open API
robot message (sampleImageMsg / sampleFile) sends to the chat; the text keeps its label. The fake
DingTalk on loopback checks the token and records the bytes it was given."""
from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import requests

from tests.pipeline.test_media import pdf_with, png
from tests.support.fake_cards_dingtalk_wecom import FakeDingTalkCards
from tests.support.fake_open_platforms import running, start_app
from tests.support.platform_clients import model_answer, quiet_for, wait_for_audit
from tests.support.platform_requests import dingtalk_headers, dingtalk_message

APP_KEY, APP_SECRET = "dingapp_files", "dingtalk-app-secret-for-file-tests"
GROUP_SEND, DIRECT_SEND = "/v1.0/robot/groupMessages/send", "/v1.0/robot/oToMessages/batchSend"


@pytest.fixture
def dingtalk():
    with running(FakeDingTalkCards(APP_KEY, APP_SECRET)) as server:
        yield server


def _start(live_app, make_config, fake_model, dingtalk):
    return start_app(live_app, make_config, fake_model, "dingtalk", {
        "app_key": APP_KEY, "app_secret": APP_SECRET, "api_base": dingtalk.url, "oapi_base": dingtalk.url,
        "session_webhook_hosts": [dingtalk.url]})


def _ask(app, dingtalk, **fields: Any) -> None:
    body = json.dumps(dingtalk_message(sessionWebhook=dingtalk.session_webhook, **fields), ensure_ascii=False)
    resp = requests.post(app.url + "/webhooks/dingtalk", data=body.encode(), headers=dingtalk_headers(APP_SECRET),
                         timeout=10)
    assert resp.status_code == 200


def _file_messages(dingtalk) -> list[dict[str, Any]]:
    return [m for m in dingtalk.delivered if json.loads(m["json"].get("msgParam") or "{}").keys()
            & {"photoURL", "mediaId"}]


def test_an_image_in_the_answer_is_uploaded_and_sent_to_the_group(live_app, make_config, fake_model, dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    image = png(5, 5)
    encoded = base64.b64encode(image).decode()
    fake_model.script(model_answer(f"Disk use: ![disk chart](data:image/png;base64,{encoded})"))
    _ask(app, dingtalk, msgId="msgFile1", text={"content": "draw the disk chart"})
    dingtalk.wait_delivered(2)
    quiet_for(0.5)
    assert [(u["type"], u["name"], u["bytes"]) for u in dingtalk.uploads] == [("image", "disk-chart-1.png", image)]
    [sent] = _file_messages(dingtalk)
    assert sent["path"] == GROUP_SEND and sent["json"]["openConversationId"] == "cidTEST=="
    assert sent["json"]["msgKey"] == "sampleImageMsg"
    assert json.loads(sent["json"]["msgParam"]) == {"photoURL": dingtalk.uploads[0]["media_id"]}
    texts = [dingtalk.text_of(m) for m in dingtalk.delivered if m["path"] == dingtalk.SESSION_PATH]
    assert texts == ["Disk use: [disk-chart-1.png]"]
    upload = dingtalk.calls("/media/upload")[0]
    assert upload["query"]["access_token"] and "base64" not in json.dumps(dingtalk.delivered[0]["json"])


def test_a_pdf_is_sent_as_a_file_to_a_direct_chat_and_a_stale_token_is_renewed(live_app, make_config, fake_model,
                                                                               dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    document = pdf_with("quarterly report")
    fake_model.script(model_answer(f"Here: data:application/pdf;base64,{base64.b64encode(document).decode()}"))
    dingtalk.script("/media/upload", 200, {"errcode": 42001, "errmsg": "access_token expired"})
    _ask(app, dingtalk, msgId="msgFile2", conversationType="1", text={"content": "the report please"})
    dingtalk.wait_delivered(2)
    quiet_for(0.5)
    [sent] = _file_messages(dingtalk)
    assert sent["path"] == DIRECT_SEND and sent["json"]["userIds"] == ["staff001"]
    assert sent["json"]["msgKey"] == "sampleFile"
    assert json.loads(sent["json"]["msgParam"]) == {"mediaId": dingtalk.uploads[0]["media_id"],
                                                    "fileName": "file-1.pdf", "fileType": "pdf"}
    assert [u["bytes"] for u in dingtalk.uploads] == [document]
    assert len(dingtalk.calls("/media/upload")) == 2 and len(dingtalk.calls(dingtalk.TOKEN_PATH)) == 2


def test_an_upload_dingtalk_refuses_is_given_up_and_audited_without_the_token(live_app, make_config, fake_model,
                                                                              dingtalk):
    app = _start(live_app, make_config, fake_model, dingtalk)
    fake_model.script(model_answer(f"![x](data:image/png;base64,{base64.b64encode(png()).decode()})"))
    dingtalk.script("/media/upload", 200, {"errcode": 40004, "errmsg": "不合法的媒体文件类型"})
    _ask(app, dingtalk, msgId="msgFile3", text={"content": "draw"})
    failed = str([row.details for row in wait_for_audit(app, "reply.failed")])
    assert "refused the file upload (errcode 40004" in failed
    assert "access_token" not in failed and "tok-" not in failed and _file_messages(dingtalk) == []
