"""Pressing approval buttons as Telegram, Slack, Discord and Feishu deliver a press, built without
SmartBot's code, and reading what the app answered from the fake platform APIs (fake_button_apis.py).

One `Presser` per platform: `start_fake()` and `channel_config(fake)` set the platform up,
`buttons()` waits for the approvers' notice and returns the data of its Approve and Deny buttons,
`press(data, user, press_id)` delivers a press signed as the platform signs it, and
`wait("decided" | "private", n)` waits for the answers that update the message or that only the
presser sees.
"""
from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import urlencode

import requests
from nacl.signing import SigningKey
from slack_sdk.signature import SignatureVerifier

from .fake_button_apis import DISCORD_BOT_TOKEN, FakeButtonApis, FakeFeishuButtons, FakeWeComButtons
from .fake_chat_apis import DISCORD_APP_ID, DISCORD_SIGNING_SEED, SLACK_SIGNING_SECRET, TELEGRAM_SECRET, channel_config
from .platform_requests import feishu_request, wecom_post

# The approvers' chat; on WeCom (an app's chats are one person each) the approver's own.
ROOMS = {"telegram": "-1001234", "slack": "C0OPSROOM", "discord": "900000000000000001", "feishu": "oc_opsroom",
         "wecom": "bob"}
FEISHU_APP_ID, FEISHU_APP_SECRET, FEISHU_TOKEN = "cli_test", "feishu-app-secret-for-tests", "verification-token"
FEISHU_ENCRYPT_KEY = "feishu-encrypt-key-for-tests"
WECOM_CORP, WECOM_SECRET, WECOM_AGENT = "ww_test_corp", "wecom-app-secret-for-tests", 1000002
WECOM_TOKEN, WECOM_AES_KEY = "wecom-callback-token", "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"


class Presser:
    platform = ""
    shows_output = True         # the updated message shows the approved command's output

    def __init__(self, app_url: str, fake: Any) -> None:
        self.app_url = app_url
        self.fake = fake
        self.notice: dict[str, Any] = {}

    @staticmethod
    def start_fake() -> Any:
        return FakeButtonApis().start()

    @classmethod
    def channel_config(cls, fake: Any) -> dict[str, Any]:
        return channel_config(cls.platform, fake)

    @property
    def room(self) -> str:
        return ROOMS[self.platform]

    def sent(self) -> list[dict[str, Any]]:
        return self.fake.delivered(self.platform)

    def buttons(self, timeout: float = 15.0) -> list[str]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            sent = [r for r in self.sent() if self._is_notice(r)]
            if sent:
                self.notice = sent[0]
                return self._data(sent[0]["json"])
            time.sleep(0.05)
        raise AssertionError(f"no approval notice reached {self.platform}")

    def wait(self, kind: str, count: int, timeout: float = 15.0) -> list[dict[str, Any]]:
        """The answers of `kind` (decided | private), once there are `count` of them."""
        deadline = time.monotonic() + timeout
        while True:
            found = [r for r in self.fake.requests if r.get("accepted") and self._answer_kind(r) == kind]
            if len(found) >= count or time.monotonic() > deadline:
                return found
            time.sleep(0.05)

    def _is_notice(self, record: dict[str, Any]) -> bool:
        raise NotImplementedError

    def _data(self, body: dict[str, Any]) -> list[str]:
        raise NotImplementedError

    def _answer_kind(self, record: dict[str, Any]) -> str:
        raise NotImplementedError

    def press(self, data: str, user: str, press_id: str) -> requests.Response:
        raise NotImplementedError

    def text_of(self, record: dict[str, Any]) -> str:
        raise NotImplementedError


class TelegramPresser(Presser):
    platform = "telegram"

    def _is_notice(self, record: dict[str, Any]) -> bool:
        return record["path"].endswith("/sendMessage") and "reply_markup" in (record["json"] or {})

    def _data(self, body: dict[str, Any]) -> list[str]:
        return [b["callback_data"] for b in body["reply_markup"]["inline_keyboard"][0]]

    def _answer_kind(self, record: dict[str, Any]) -> str:
        if record["platform"] != "telegram":
            return ""
        if record["path"].endswith("/editMessageText"):
            return "decided"
        if record["path"].endswith("/answerCallbackQuery") and record["json"].get("show_alert"):
            return "private"
        return ""

    def text_of(self, record: dict[str, Any]) -> str:
        return record["json"]["text"]

    def press(self, data: str, user: str, press_id: str) -> requests.Response:
        update = {"update_id": int(time.time() * 1000) % 10**9, "callback_query": {
            "id": press_id, "chat_instance": "-42", "data": data,
            "from": {"id": int(user), "is_bot": False, "first_name": f"user{user}", "username": f"u{user}"},
            "message": {"message_id": 77, "date": int(time.time()), "text": "Approval needed",
                        "chat": {"id": int(self.room), "type": "supergroup", "title": "ops"}}}}
        return requests.post(self.app_url + "/webhooks/telegram", json=update, timeout=10,
                             headers={"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET})


class SlackPresser(Presser):
    platform = "slack"

    def _is_notice(self, record: dict[str, Any]) -> bool:
        return record["path"] == "/chat.postMessage" and "blocks" in (record["json"] or {})

    def _data(self, body: dict[str, Any]) -> list[str]:
        return [e["value"] for e in body["blocks"][1]["elements"]]

    def _answer_kind(self, record: dict[str, Any]) -> str:
        if record["platform"] != "slack":
            return ""
        return {"/chat.update": "decided", "/chat.postEphemeral": "private"}.get(record["path"], "")

    def text_of(self, record: dict[str, Any]) -> str:
        return record["json"]["text"]

    def press(self, data: str, user: str, press_id: str) -> requests.Response:
        payload = {"type": "block_actions", "api_app_id": "A0APP", "trigger_id": press_id,
                   "user": {"id": user, "username": f"u{user}", "name": f"u{user}", "team_id": "T0"},
                   "team": {"id": "T0"}, "channel": {"id": self.room, "name": "ops"},
                   "container": {"type": "message", "message_ts": "1700000000.000100", "channel_id": self.room},
                   "message": {"ts": "1700000000.000100", "text": "Approval needed"},
                   "response_url": "https://hooks.slack.com/actions/T0/1/x",
                   "actions": [{"action_id": "smartbot_decision_0", "block_id": "b", "type": "button",
                                "value": data, "action_ts": f"{time.time():.6f}"}]}
        body = urlencode({"payload": json.dumps(payload)}).encode()
        ts = str(int(time.time()))
        signature = SignatureVerifier(SLACK_SIGNING_SECRET).generate_signature(timestamp=ts, body=body)
        return requests.post(self.app_url + "/webhooks/slack", data=body, timeout=10, headers={
            "Content-Type": "application/x-www-form-urlencoded", "X-Slack-Request-Timestamp": ts,
            "X-Slack-Signature": signature})


class DiscordPresser(Presser):
    platform = "discord"

    @classmethod
    def channel_config(cls, fake: Any) -> dict[str, Any]:
        return channel_config("discord", fake, bot_token=DISCORD_BOT_TOKEN)

    def _is_notice(self, record: dict[str, Any]) -> bool:
        return record["path"] == f"/channels/{self.room}/messages" and "components" in (record["json"] or {})

    def _data(self, body: dict[str, Any]) -> list[str]:
        return [c["custom_id"] for c in body["components"][0]["components"]]

    def _answer_kind(self, record: dict[str, Any]) -> str:
        if record["platform"] != "discord":
            return ""
        if record["method"] == "PATCH" and record["path"].endswith("/messages/@original"):
            return "decided"
        if record["path"].startswith(f"/webhooks/{DISCORD_APP_ID}/") and (record["json"] or {}).get("flags") == 64:
            return "private"
        return ""

    def text_of(self, record: dict[str, Any]) -> str:
        return record["json"]["content"]

    def press(self, data: str, user: str, press_id: str) -> requests.Response:
        interaction = {"type": 3, "id": press_id, "application_id": DISCORD_APP_ID, "token": f"tok-{press_id}",
                       "channel_id": self.room, "guild_id": "500000000000000001", "locale": "en-US",
                       "member": {"user": {"id": user, "username": f"u{user}"}},
                       "message": {"id": "600000000000000001", "channel_id": self.room},
                       "data": {"component_type": 2, "custom_id": data}}
        body = json.dumps(interaction).encode()
        ts = str(int(time.time()))
        signed = SigningKey(DISCORD_SIGNING_SEED).sign(ts.encode() + body)
        return requests.post(self.app_url + "/webhooks/discord", data=body, timeout=10, headers={
            "Content-Type": "application/json", "X-Signature-Ed25519": signed.signature.hex(),
            "X-Signature-Timestamp": ts})


class FeishuPresser(Presser):
    platform = "feishu"

    @staticmethod
    def start_fake() -> Any:
        return FakeFeishuButtons(FEISHU_APP_ID, FEISHU_APP_SECRET).start()

    @classmethod
    def channel_config(cls, fake: Any) -> dict[str, Any]:
        return {"app_id": FEISHU_APP_ID, "app_secret": FEISHU_APP_SECRET, "verification_token": FEISHU_TOKEN,
                "encrypt_key": FEISHU_ENCRYPT_KEY, "api_base": fake.url}

    def sent(self) -> list[dict[str, Any]]:
        return list(self.fake.delivered)

    def _is_notice(self, record: dict[str, Any]) -> bool:
        return (record["json"] or {}).get("msg_type") == "interactive"

    def _data(self, body: dict[str, Any]) -> list[str]:
        card = json.loads(body["content"])
        return [a["value"]["smartbot_decision"] for a in card["elements"][1]["actions"]]

    def _answer_kind(self, record: dict[str, Any]) -> str:
        if record["method"] == "PATCH":
            return "decided"
        return "private" if record["path"] == FakeFeishuButtons.EPHEMERAL_PATH else ""

    def text_of(self, record: dict[str, Any]) -> str:
        body = record["json"]
        card = json.loads(body["content"]) if "content" in body else body["card"]
        return card["elements"][0]["text"]["content"]

    def press(self, data: str, user: str, press_id: str) -> requests.Response:
        event = {"schema": "2.0", "header": {
            "event_id": f"ev{press_id}", "event_type": "card.action.trigger", "token": FEISHU_TOKEN,
            "create_time": str(int(time.time() * 1000)), "app_id": FEISHU_APP_ID, "tenant_key": "tenant_test"},
            "event": {"operator": {"open_id": user, "user_id": f"u_{user}"}, "token": "c-callback-token",
                      "host": "im_message", "action": {"tag": "button", "value": {"smartbot_decision": data}},
                      "context": {"open_message_id": "om_notice", "open_chat_id": self.room}}}
        body, headers = feishu_request(event, FEISHU_ENCRYPT_KEY)
        return requests.post(self.app_url + "/webhooks/feishu", data=body, headers=headers, timeout=10)


class WeComPresser(Presser):
    """WeCom's app chats are one person each: a refusal is a plain message to the presser."""

    platform = "wecom"
    shows_output = False        # a template card's replaced button holds one short line

    @staticmethod
    def start_fake() -> Any:
        return FakeWeComButtons(WECOM_CORP, WECOM_SECRET).start()

    @classmethod
    def channel_config(cls, fake: Any) -> dict[str, Any]:
        return {"corp_id": WECOM_CORP, "agent_id": WECOM_AGENT, "secret": WECOM_SECRET, "token": WECOM_TOKEN,
                "encoding_aes_key": WECOM_AES_KEY, "api_base": fake.url}

    def sent(self) -> list[dict[str, Any]]:
        return list(self.fake.delivered)

    def _is_notice(self, record: dict[str, Any]) -> bool:
        return (record["json"] or {}).get("msgtype") == "template_card"

    def _data(self, body: dict[str, Any]) -> list[str]:
        return [b["key"] for b in body["template_card"]["button_list"]]

    def _answer_kind(self, record: dict[str, Any]) -> str:
        if record["path"] == FakeWeComButtons.UPDATE_PATH:
            return "decided"
        body = record["json"] or {}
        return "private" if body.get("msgtype") == "text" and body.get("touser") in PRESSED_BY else ""

    def text_of(self, record: dict[str, Any]) -> str:
        body = record["json"]
        if "button" in body:
            return body["button"]["replace_name"]
        return body["template_card"]["sub_title_text"] if "template_card" in body else body["text"]["content"]

    def press(self, data: str, user: str, press_id: str) -> requests.Response:
        from wechatpy.enterprise.crypto import WeChatCrypto

        PRESSED_BY.add(user)
        xml = (f"<xml><ToUserName><![CDATA[{WECOM_CORP}]]></ToUserName><FromUserName><![CDATA[{user}]]></FromUserName>"
               f"<CreateTime>{int(time.time())}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
               f"<Event><![CDATA[template_card_event]]></Event><EventKey><![CDATA[{data}]]></EventKey>"
               f"<TaskId><![CDATA[task-1]]></TaskId><CardType><![CDATA[button_interaction]]></CardType>"
               f"<ResponseCode><![CDATA[rc-{press_id}]]></ResponseCode><AgentID>{WECOM_AGENT}</AgentID></xml>")
        query, body = wecom_post(WeChatCrypto(WECOM_TOKEN, WECOM_AES_KEY, WECOM_CORP), xml)
        return requests.post(self.app_url + "/webhooks/wecom", params=query, data=body, timeout=10,
                             headers={"Content-Type": "text/xml"})


PRESSED_BY: set[str] = set()        # WeCom users who pressed: a plain message to one of them answers a press

PRESSERS = {p.platform: p for p in (TelegramPresser, SlackPresser, DiscordPresser, FeishuPresser, WeComPresser)}
