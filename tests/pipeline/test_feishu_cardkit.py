"""Streamed replies on Feishu as a CardKit streaming card, through the whole path to a fake Feishu on
loopback whose app may use CardKit: one card entity, sent once by its card_id, streamed into in
throttled content updates with growing sequences, ending with the final text and streaming off;
a 429 mid-stream waited out; a worker killed mid-stream; CardKit refused (the card updated by
PATCH instead); a final after Feishu closed streaming; and answers' images and files uploaded."""
from __future__ import annotations

import base64
import json

import pytest
import requests

from smartbot.channels.feishu import FeishuChannel, FeishuConfig
from smartbot.errors import DeliveryError
from smartbot.i18n import t
from smartbot.messages import Reply
from tests.pipeline.test_media import pdf_with, png
from tests.support.fake_feishu_cards import CARDS, FakeFeishuCards
from tests.support.fake_open_platforms import running
from tests.support.platform_clients import model_answer, quiet_for
from tests.support.platform_requests import feishu_event, feishu_request
from tests.support.waiting import wait_until

WORDS = [f"w{i} " for i in range(20)]
WRITTEN = "".join(WORDS).strip()
INTERVAL = 0.3
APP_ID, APP_SECRET, TOKEN = "cli_test", "feishu-app-secret-for-tests", "verification-token"
ECHO = "echo: 查看磁盘使用情况"


@pytest.fixture
def feishu():
    with running(FakeFeishuCards(APP_ID, APP_SECRET)) as fake:
        yield fake


def section(fake: FakeFeishuCards, **extra) -> dict:
    return {"app_id": APP_ID, "app_secret": APP_SECRET, "verification_token": TOKEN, "bot_open_id": "ou_bot",
            "api_base": fake.url, "stream": True, "stream_interval": INTERVAL, **extra}


def post(app) -> None:
    body, headers = feishu_request(feishu_event("feishu_p2p_text.json"))
    assert requests.post(app.url + "/webhooks/feishu", data=body, headers=headers, timeout=10).status_code == 200


def texts_shown(fake: FakeFeishuCards) -> list[str]:
    return [fake.text_of(m) for m in fake.delivered]


def finished(fake: FakeFeishuCards, text: str) -> bool:
    """One message, a card entity showing `text` with streaming off."""
    cards = [fake.card_of(m) for m in fake.delivered]
    return len(cards) == 1 and cards[0] is not None and cards[0]["text"] == text and not cards[0]["streaming"]


def content_updates(card: dict) -> list[dict]:
    return [u for u in card["updates"] if u["kind"] == "content"]


def test_one_streaming_card_grows_in_throttled_updates_and_ends_as_the_final_reply(live_app, make_config,
                                                                                   fake_model, feishu):
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    app = live_app(make_config(model=fake_model, channels={"feishu": section(feishu)}))
    post(app)
    assert wait_until(lambda: finished(feishu, WRITTEN), 20), feishu.requests
    quiet_for(1.0)
    assert finished(feishu, WRITTEN) and len(feishu.cards) == 1
    [message] = feishu.delivered
    assert message["path"] == "/open-apis/im/v1/messages/om_test1/reply"
    assert message["json"]["msg_type"] == "interactive" and message["json"]["uuid"].startswith("preview-")
    card = feishu.card_of(message)
    updates = content_updates(card)
    assert len(updates) >= 3 and updates[-1]["text"] == WRITTEN
    assert all(WRITTEN.startswith(u["text"]) for u in updates)          # the whole text so far, each time
    gaps = [b["at"] - a["at"] for a, b in zip(updates[:-1], updates[1:-1])]     # the last one is the final's
    assert all(gap >= INTERVAL - 0.05 for gap in gaps), gaps
    assert card["updates"][-1]["kind"] == "settings" and card["updates"][-1]["streaming"] is False
    sequences = [u["sequence"] for u in card["updates"]]
    assert sequences == sorted(set(sequences))
    assert not feishu.calls("/open-apis/im/v1/messages/om_sent_")          # no PATCH of a message


def test_a_429_mid_stream_is_waited_out_and_the_card_still_ends_once(live_app, make_config, fake_model, feishu):
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    app = live_app(make_config(model=fake_model, channels={"feishu": section(feishu)}))
    post(app)
    assert wait_until(lambda: feishu.delivered, 10)
    feishu.script(CARDS + "/", 429, {"code": 99991400, "msg": "request trigger frequency limit"},
                  {"x-ogw-ratelimit-reset": "1"})
    assert wait_until(lambda: finished(feishu, WRITTEN), 20), feishu.requests
    quiet_for(1.0)
    assert finished(feishu, WRITTEN)
    calls = [r for r in feishu.calls(CARDS + "/") if r["method"] == "PUT"]
    refused = next(i for i, r in enumerate(calls) if r.get("scripted") == 429)
    assert calls[refused + 1]["at"] - calls[refused]["at"] >= 0.95          # Feishu's reset hint was honoured


def test_a_worker_killed_mid_stream_still_ends_the_card_once(gunicorn_app, make_config, fake_model, feishu):
    fake_model.script({"tokens": WORDS, "pace": 0.3})           # the first try is slow; we kill it midway
    app = gunicorn_app(make_config(model=fake_model, channels={"feishu": section(feishu)}), workers=2)
    post(app)
    assert wait_until(lambda: feishu.delivered, 15), app.log()          # the card is up
    assert app.kill_workers()
    app.wait_ready(timeout=30)
    assert wait_until(lambda: finished(feishu, ECHO), 40), (feishu.requests, app.log())
    quiet_for(1.5)
    assert finished(feishu, ECHO) and len(feishu.cards) == 1    # the same card, finished: no second message
    assert fake_model.calls() == 2


def test_a_model_error_mid_stream_ends_the_card_in_the_friendly_error(live_app, make_config, fake_model, feishu):
    fake_model.script({"tokens": ["half ", "an ", "answer "], "pace": 0.2, "cut": True})
    app = live_app(make_config(model=fake_model, channels={"feishu": section(feishu)}))
    post(app)
    friendly = {t("model.unavailable", locale) for locale in ("en", "zh-CN")}
    assert wait_until(lambda: any(finished(feishu, text) for text in friendly), 20), feishu.requests
    quiet_for(1.0)
    [card] = feishu.cards.values()
    assert content_updates(card)[0]["text"].startswith("half") and len(feishu.delivered) == 1


def test_cardkit_refused_falls_back_to_a_card_updated_by_patch(live_app, make_config, fake_model, feishu):
    feishu.script(CARDS, 400, {"code": 99991672, "msg": "Access denied. [cardkit:card:write]"})
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    app = live_app(make_config(model=fake_model, channels={"feishu": section(feishu)}))
    post(app)
    assert wait_until(lambda: texts_shown(feishu) == [WRITTEN], 20), feishu.requests
    quiet_for(1.0)
    assert texts_shown(feishu) == [WRITTEN] and feishu.cards == {}
    patches = [r for r in feishu.calls("/open-apis/im/v1/messages/om_sent_1") if r["method"] == "PATCH"]
    assert len(patches) >= 2 and len(feishu.calls(CARDS)) == 1           # CardKit is not asked again at once


def test_cardkit_off_in_the_settings_updates_a_card(live_app, make_config, fake_model, feishu):
    fake_model.script({"tokens": WORDS[:6], "pace": 0.1})
    app = live_app(make_config(model=fake_model, channels={"feishu": section(feishu, cardkit=False)}))
    post(app)
    assert wait_until(lambda: texts_shown(feishu) == ["".join(WORDS[:6]).strip()], 20), feishu.requests
    assert feishu.calls(CARDS) == []


def _channel(fake: FakeFeishuCards) -> FeishuChannel:
    return FeishuChannel(FeishuConfig(app_id=APP_ID, app_secret=APP_SECRET, verification_token=TOKEN,
                                      api_base=fake.url))


def _reply(text: str, **extra) -> Reply:
    return Reply("feishu", "oc_test1", text, {"message_id": "om_test1", "chat_id": "oc_test1"},
                 delivery_id="d-1", **extra)


def test_a_final_after_feishu_closed_streaming_replaces_the_whole_card(feishu):
    channel = _channel(feishu)
    handle = channel.start_preview(_reply("half"))
    channel.update_preview(_reply("half an"), handle)
    [card] = feishu.cards.values()
    card["streaming"] = False                       # Feishu ends streaming after ten minutes
    channel.deliver(Reply(**{**_reply("half an answer").to_record(), "preview": handle}))
    assert card["text"] == "half an answer" and card["updates"][-1]["kind"] == "card"
    assert len(feishu.delivered) == 1


def test_a_final_whose_card_is_gone_is_sent_as_a_message_of_its_own(feishu):
    channel = _channel(feishu)
    handle = channel.start_preview(_reply("half"))
    feishu.cards.clear()
    channel.deliver(Reply(**{**_reply("the answer").to_record(), "preview": handle}))
    first, final = feishu.delivered
    assert json.loads(final["json"]["content"]) == {"text": "the answer"} and final["json"]["uuid"] == "d-1"


def test_an_image_in_the_answer_is_uploaded_and_sent_as_an_image_message(live_app, make_config, fake_model, feishu):
    image = png(3, 3)
    fake_model.script(model_answer(f"the chart: ![disk chart](data:image/png;base64,{base64.b64encode(image).decode()})"))
    app = live_app(make_config(model=fake_model, channels={"feishu": section(feishu, stream=False)}))
    post(app)
    assert wait_until(lambda: len(feishu.delivered) == 2, 20), feishu.requests
    text, picture = feishu.delivered
    assert feishu.text_of(text) == "the chart: [disk-chart-1.png]"
    assert picture["json"]["msg_type"] == "image"
    key = json.loads(picture["json"]["content"])["image_key"]
    assert feishu.uploads[key] == {"name": "disk-chart-1.png", "mime": "image/png", "data": image}


def test_a_pdf_is_uploaded_as_a_file_and_a_retried_send_shows_once(feishu):
    channel = _channel(feishu)
    document = pdf_with("report")
    reply = _reply("[report.pdf]", file={"name": "report.pdf", "mime": "application/pdf",
                                          "data": base64.b64encode(document).decode()})
    channel.send(reply)
    channel.send(reply)                             # a retry after a lost answer: same uuid
    [message] = feishu.delivered
    assert message["json"]["msg_type"] == "file"
    key = json.loads(message["json"]["content"])["file_key"]
    assert feishu.uploads[key]["data"] == document and feishu.uploads[key]["name"] == "report.pdf"
    upload = feishu.calls("/open-apis/im/v1/files")[0]
    assert "authorization" in upload["headers"]


def test_an_upload_feishu_refuses_is_a_delivery_error_not_a_message(feishu):
    channel = _channel(feishu)
    feishu.script("/open-apis/im/v1/images", 400, {"code": 234011, "msg": "image size exceeds limit"})
    with pytest.raises(DeliveryError) as refused:
        channel.send(_reply("[a.png]", file={"name": "a.png", "mime": "image/png",
                                             "data": base64.b64encode(png()).decode()}))
    assert not refused.value.retryable and "234011" in refused.value.reason
    assert feishu.delivered == []


def test_another_process_finishing_the_card_goes_on_counting_its_sequence(feishu):
    writer, finisher = _channel(feishu), _channel(feishu)       # two processes: the card outlives the first
    handle = writer.start_preview(_reply("half"))
    for words in ("half an", "half an ans", "half an answ"):
        writer.update_preview(_reply(words), handle)
    finisher.deliver(Reply(**{**_reply("half an answer").to_record(), "preview": handle}))
    [card] = feishu.cards.values()
    assert card["text"] == "half an answer" and card["streaming"] is False
    assert [u["kind"] for u in card["updates"]] == ["content"] * 4 + ["settings"]
    assert len(feishu.delivered) == 1
