"""Streamed replies on Feishu (a card updated by PATCH) and DingTalk (an AI card streamed into),
through the whole path to fake open platforms on loopback: one card that grows in throttled
updates and ends holding the final reply, a 429 mid-stream waited out, a model error mid-stream
ending the card in the friendly error."""
from __future__ import annotations

import json

import pytest
import requests

from smartbot.i18n import t
from tests.support.fake_open_platforms import FakeDingTalk, FakeFeishu, running, start_app
from tests.support.platform_clients import quiet_for
from tests.support.platform_requests import dingtalk_headers, dingtalk_message, feishu_event, feishu_request
from tests.support.waiting import wait_until

WORDS = [f"w{i} " for i in range(20)]
WRITTEN = "".join(WORDS).strip()
INTERVAL = 0.3
FEISHU_ID, FEISHU_SECRET, FEISHU_TOKEN = "cli_test", "feishu-app-secret-for-tests", "verification-token"
DING_KEY, DING_SECRET = "dingapp_test", "dingtalk-app-secret-for-tests"
STREAMING = {"stream": True, "stream_interval": INTERVAL}
FRIENDLY = {t("model.unavailable", locale) for locale in ("en", "zh-CN")}


class Feishu:
    edits_path = "/open-apis/im/v1/messages/om_sent_1"
    too_many = (429, {"code": 99991400, "msg": "request trigger frequency limit"}, {"x-ogw-ratelimit-reset": "1"})

    def __init__(self, fake: FakeFeishu) -> None:
        self.fake = fake

    name = "feishu"
    echo = "echo: 查看磁盘使用情况"

    def section(self) -> dict:
        return {"app_id": FEISHU_ID, "app_secret": FEISHU_SECRET, "verification_token": FEISHU_TOKEN,
                "bot_open_id": "ou_bot", "api_base": self.fake.url, **STREAMING}

    def start(self, live_app, make_config, fake_model):
        return start_app(live_app, make_config, fake_model, self.name, self.section())

    def post(self, app) -> None:
        body, headers = feishu_request(feishu_event("feishu_p2p_text.json"))
        assert requests.post(app.url + "/webhooks/feishu", data=body, headers=headers, timeout=10).status_code == 200

    def edits(self) -> list[dict]:
        return [r for r in self.fake.calls(self.edits_path) if r["method"] == "PATCH"]

    def first_text(self, message: dict) -> str:
        return json.loads(message["json"]["content"])["elements"][0]["content"]


class DingTalk:
    edits_path = "/v1.0/card/streaming"
    too_many = (429, {"code": "Forbidden.AccessDenied.QpsLimitForAppkeyAndApi", "message": "qps"},
                {"Retry-After": "1"})

    def __init__(self, fake: FakeDingTalk) -> None:
        self.fake = fake

    name = "dingtalk"
    echo = "echo: 服务状态"

    def section(self) -> dict:
        return {"app_key": DING_KEY, "app_secret": DING_SECRET, "api_base": self.fake.url,
                "session_webhook_hosts": [self.fake.url], **STREAMING}

    def start(self, live_app, make_config, fake_model):
        return start_app(live_app, make_config, fake_model, self.name, self.section())

    def post(self, app) -> None:
        body = json.dumps(dingtalk_message(sessionWebhook=self.fake.session_webhook), ensure_ascii=False).encode()
        assert requests.post(app.url + "/webhooks/dingtalk", data=body, headers=dingtalk_headers(DING_SECRET),
                             timeout=10).status_code == 200

    def edits(self) -> list[dict]:
        return self.fake.calls(self.edits_path)

    def first_text(self, message: dict) -> str:
        return message["json"]["cardData"]["cardParamMap"]["msgContent"]


@pytest.fixture(params=["feishu", "dingtalk"])
def platform(request):
    fake, kind = (FakeFeishu(FEISHU_ID, FEISHU_SECRET), Feishu) if request.param == "feishu" else \
        (FakeDingTalk(DING_KEY, DING_SECRET), DingTalk)
    with running(fake):
        yield kind(fake)


def texts_shown(platform) -> list[str]:
    return [platform.fake.text_of(m) for m in platform.fake.delivered]


def test_one_card_grows_in_throttled_updates_and_ends_as_the_final_reply(live_app, make_config, fake_model, platform):
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    app = platform.start(live_app, make_config, fake_model)
    platform.post(app)
    assert wait_until(lambda: texts_shown(platform) == [WRITTEN], 20), platform.fake.requests
    quiet_for(1.0)
    assert texts_shown(platform) == [WRITTEN]                   # one message: the card, holding all of it
    [card] = platform.fake.delivered
    assert WRITTEN.startswith(platform.first_text(card))
    edits = platform.edits()
    assert len(edits) >= 3
    gaps = [b["at"] - a["at"] for a, b in zip(edits[:-1], edits[1:-1])]     # the last one is the final's
    assert all(gap >= INTERVAL - 0.05 for gap in gaps), gaps
    if isinstance(platform, DingTalk):
        updates = [json.loads(e) for e in card["edits"]]
        assert updates[-2] == {"content": WRITTEN, "final": True} and updates[-1] == {"content": WRITTEN, "status": "3"}
        assert platform.fake.calls(FakeDingTalk.SESSION_PATH) == []


def test_a_429_mid_stream_is_waited_out_and_the_card_still_ends_once(live_app, make_config, fake_model, platform):
    fake_model.script({"tokens": WORDS, "pace": 0.1})
    app = platform.start(live_app, make_config, fake_model)
    platform.post(app)
    assert wait_until(lambda: platform.fake.delivered, 10)
    status, body, headers = platform.too_many
    platform.fake.script(platform.edits_path, status, body, headers)
    assert wait_until(lambda: texts_shown(platform) == [WRITTEN], 20), platform.fake.requests
    quiet_for(1.0)
    assert texts_shown(platform) == [WRITTEN]
    calls = platform.edits()
    refused = next(i for i, r in enumerate(calls) if r.get("scripted") == 429)
    assert calls[refused + 1]["at"] - calls[refused]["at"] >= 0.95          # retry_after was honoured


def test_a_model_error_mid_stream_ends_the_card_in_the_friendly_error(live_app, make_config, fake_model, platform):
    fake_model.script({"tokens": ["half ", "an ", "answer "], "pace": 0.2, "cut": True})
    app = platform.start(live_app, make_config, fake_model)
    platform.post(app)
    assert wait_until(lambda: set(texts_shown(platform)) & FRIENDLY, 20), platform.fake.requests
    quiet_for(1.0)
    [card] = platform.fake.delivered
    assert platform.fake.text_of(card) in FRIENDLY and platform.first_text(card).startswith("half")
    assert fake_model.calls() == 1


def test_a_worker_killed_mid_stream_still_ends_the_card_once(gunicorn_app, make_config, fake_model, platform):
    fake_model.script({"tokens": WORDS, "pace": 0.3})           # the first try is slow; we kill it midway
    app = gunicorn_app(make_config(model=fake_model, channels={platform.name: platform.section()}), workers=2)
    platform.post(app)
    assert wait_until(lambda: platform.fake.delivered, 15), app.log()          # the card is up
    assert app.kill_workers()
    app.wait_ready(timeout=30)
    assert wait_until(lambda: texts_shown(platform) == [platform.echo], 40), (platform.fake.requests, app.log())
    quiet_for(1.5)
    assert texts_shown(platform) == [platform.echo]             # the same card, finished: no second message
    assert fake_model.calls() == 2
