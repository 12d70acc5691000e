"""Pressing approval buttons as DingTalk and WeCom's AI bot deliver a press, built without SmartBot's
code, and reading what the app answered from the fakes (fake_cards_dingtalk_wecom.py). The same
`Presser` interface as button_presses.py, so the same scenarios run against both.

DingTalk (HTTP mode): the press is the card callback posted to the URL SmartBot registered for its
card route (read back from the fake), JSON naming the card, the presser's staff id and the pressed
button's id. WeCom AI bot (connect mode): the press is a template_card_event pushed over the
long connection; the card update must answer that event's req_id.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qs, urlsplit

import requests

from .button_presses import PRESSED_BY, Presser
from .fake_cards_dingtalk_wecom import (DINGTALK_CARD_SEND, DINGTALK_CARD_UPDATE, FakeDingTalkCards,
                                        FakeDingTalkStreamCards, FakeWeComAiBotCards)

DINGTALK_KEY, DINGTALK_SECRET = "dingapp_buttons", "dingtalk-app-secret-for-button-tests"
AIBOT_ID, AIBOT_SECRET = "aibot_buttons", "aibot-buttons-secret"
ROOMS = {"dingtalk": "cidOpsRoom0123==", "wecom": "wrkOpsRoom"}
DIRECT_SEND = "/v1.0/robot/oToMessages/batchSend"


def data_of(button_id: str) -> str:
    """The press data a DingTalk button id carries (`smartbot_a_<id>_<digest>`: colons as the first two underscores)."""
    kind, number, digest = button_id.removeprefix("smartbot_").split("_", 2)
    return f"{kind}:{number}:{digest}"


@dataclass
class Pushed:
    """What pushing a press over a connection gives back, in place of an HTTP answer."""

    status_code: int = 200


class DingTalkPresser(Presser):
    platform = "dingtalk"

    @staticmethod
    def start_fake() -> Any:
        return FakeDingTalkCards(DINGTALK_KEY, DINGTALK_SECRET).start()

    @classmethod
    def channel_config(cls, fake: Any) -> dict[str, Any]:
        return {"app_key": DINGTALK_KEY, "app_secret": DINGTALK_SECRET, "api_base": fake.url, "oapi_base": fake.url,
                "robot_code": "dingrobot", "session_webhook_hosts": [fake.url],
                "card_callback_url": "https://bot.example.com/webhooks/dingtalk"}

    @property
    def room(self) -> str:
        return ROOMS["dingtalk"]

    def sent(self) -> list[dict[str, Any]]:
        return list(self.fake.delivered)

    def _is_notice(self, record: dict[str, Any]) -> bool:
        return record["path"] == DINGTALK_CARD_SEND

    def _data(self, body: dict[str, Any]) -> list[str]:
        card = json.loads(body["cardData"])
        return [data_of(a["id"]) for a in card["contents"][1]["actions"]]

    def _answer_kind(self, record: dict[str, Any]) -> str:
        if record["path"] == DINGTALK_CARD_UPDATE and record["method"] == "PUT":
            return "decided"
        return "private" if record["path"] == DIRECT_SEND else ""

    def text_of(self, record: dict[str, Any]) -> str:
        body = record["json"]
        if "cardData" in body:
            return json.loads(body["cardData"])["contents"][0]["text"]
        return json.loads(body["msgParam"])["content"]

    def press(self, data: str, user: str, press_id: str) -> requests.Response:
        [url] = self.fake.routes.values()
        token = parse_qs(urlsplit(url).query)["card"][0]
        return requests.post(self.app_url + "/webhooks/dingtalk", params={"card": token},
                             json=self.callback(data, user, press_id), timeout=10)

    def callback(self, data: str, user: str, press_id: str) -> dict[str, Any]:
        """The card callback of a press, as DingTalk sends it (by HTTP or on the Stream card topic)."""
        content = {"cardPrivateData": {"actionIds": ["smartbot_" + data.replace(":", "_", 2)], "params": {}}}
        return {"outTrackId": self.notice["json"]["cardBizId"], "corpId": "dingcorp", "userId": user,
                "userIdType": 1, "type": "actionCallback", "openConversationId": self.room,
                "content": json.dumps(content), "extension": json.dumps({"press": press_id})}


class DingTalkStreamPresser(DingTalkPresser):
    """DingTalk in Stream mode: the press is a card callback on the connection, keyed on its messageId."""

    @staticmethod
    def start_fake() -> Any:
        return FakeDingTalkStreamCards(DINGTALK_KEY, DINGTALK_SECRET).start()

    @classmethod
    def channel_config(cls, fake: Any) -> dict[str, Any]:
        return {"mode": "connect", "app_key": DINGTALK_KEY, "app_secret": DINGTALK_SECRET, "api_base": fake.url,
                "oapi_base": fake.url, "robot_code": "dingrobot", "session_webhook_hosts": [fake.url]}

    def press(self, data: str, user: str, press_id: str) -> Pushed:       # type: ignore[override]
        self.fake.wait_ack(self.fake.card_callback(self.callback(data, user, press_id), f"press-{press_id}"))
        return Pushed()


class WeComAiBotPresser(Presser):
    """The AI bot in a group chat: a decision replaces the card for everyone, a refusal goes to the
    presser's own chat with the bot."""

    platform = "wecom"

    @staticmethod
    def start_fake() -> Any:
        return FakeWeComAiBotCards(AIBOT_ID, AIBOT_SECRET).start()

    @classmethod
    def channel_config(cls, fake: Any) -> dict[str, Any]:
        return {"mode": "connect", "bot_id": AIBOT_ID, "bot_secret": AIBOT_SECRET, "aibot_url": fake.ws_url}

    @property
    def room(self) -> str:
        return ROOMS["wecom"]

    def sent(self) -> list[dict[str, Any]]:
        return [{"json": frame} for frame in self.fake.delivered]

    def wait(self, kind: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while True:
            records = [{"json": f} for f in self.fake.updates] + self.sent()
            found = [r for r in records if self._answer_kind(r) == kind]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def _is_notice(self, record: dict[str, Any]) -> bool:
        frame = record["json"]
        return frame["cmd"] == "aibot_send_msg" and frame["body"].get("msgtype") == "template_card"

    def _data(self, body: dict[str, Any]) -> list[str]:
        return [b["key"] for b in body["body"]["template_card"]["button_list"]]

    def _answer_kind(self, record: dict[str, Any]) -> str:
        frame = record["json"]
        if frame["cmd"] == FakeWeComAiBotCards.UPDATE:
            return "decided"
        body = frame["body"]
        pushed_privately = frame["cmd"] == "aibot_send_msg" and body.get("msgtype") == "markdown"
        return "private" if pushed_privately and body.get("chatid") in PRESSED_BY else ""

    def text_of(self, record: dict[str, Any]) -> str:
        body = record["json"]["body"]
        if "template_card" in body:
            card = body["template_card"]
            return "\n".join([card["sub_title_text"], card.get("quote_area", {}).get("quote_text", "")])
        return body["markdown"]["content"]

    def press(self, data: str, user: str, press_id: str) -> Pushed:
        PRESSED_BY.add(user)
        task = self.notice["json"]["body"]["template_card"]["task_id"]
        self.fake.card_event(user, data, task, f"press-{press_id}", chatid=self.room)
        return Pushed()


PRESSERS = {"dingtalk": DingTalkPresser, "dingtalk_stream": DingTalkStreamPresser, "wecom_aibot": WeComAiBotPresser}
