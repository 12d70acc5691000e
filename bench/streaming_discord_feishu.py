"""Discord and Feishu in bench/streaming_platforms.py: their channels, and a chat on each that sends a
message and finds the reply's message on the fake.

Discord: a slash command (an interaction), answered by its follow-up message, created then edited
(the fake Web API of the tests, tests/support/fake_chat_apis.py). Feishu: a direct message, answered
by a CardKit streaming card (created, sent by its card_id, streamed into, streaming turned off) when
streamed, by a message when not (the fake open API, tests/support/fake_feishu_cards.py).
"""
from __future__ import annotations

import json
from contextlib import contextmanager
from typing import Any, Iterator

import requests
from nacl.signing import SigningKey

from tests.support.fake_chat_apis import DISCORD_APP_ID, DISCORD_SIGNING_SEED, FakeChatApis, channel_config
from tests.support.fake_feishu_cards import FakeFeishuCards
from tests.support.fake_open_platforms import running
from tests.support.platform_clients import DiscordSender, sample
from tests.support.platform_requests import feishu_event, feishu_request

FEISHU_ID, FEISHU_SECRET, FEISHU_TOKEN = "cli_bench", "feishu-app-secret-for-bench", "verification-token"
_FEISHU: list[FakeFeishuCards] = []


@contextmanager
def fake_feishu() -> Iterator[FakeFeishuCards]:
    """The fake Feishu the apps of this run talk to."""
    with running(FakeFeishuCards(FEISHU_ID, FEISHU_SECRET)) as fake:
        _FEISHU.append(fake)
        try:
            yield fake
        finally:
            _FEISHU.remove(fake)


def channels(chat_apis: FakeChatApis, stream: bool) -> dict[str, Any]:
    return {"discord": channel_config("discord", chat_apis, stream=stream),
            "feishu": {"app_id": FEISHU_ID, "app_secret": FEISHU_SECRET, "verification_token": FEISHU_TOKEN,
                       "bot_open_id": "ou_bot", "api_base": _FEISHU[0].url, "stream": stream}}


def chats(app: Any, chat_apis: FakeChatApis, stream: bool) -> list[Any]:
    return [DiscordChat(app, chat_apis, stream), FeishuChat(app, _FEISHU[0], stream)]


class DiscordChat:
    name = "discord"

    def __init__(self, app: Any, chat_apis: FakeChatApis, stream: bool) -> None:
        self.url, self.chat_apis = app.url, chat_apis
        self.sender = DiscordSender(app.url, SigningKey(DISCORD_SIGNING_SEED))
        self.prefix = f"bench-{'s' if stream else 'w'}-{id(self) % 100000}"
        self.token = ""

    def say(self, words: str, n: int) -> None:
        command = sample("discord_slash_ask.json")
        self.token = f"{self.prefix}-{n}"
        command.update(id=str(1200000000000000000 + n + 100), token=self.token)
        command["data"]["options"] = [{"type": 3, "name": "text", "value": words}]
        assert self.sender.post(command).status_code == 200

    def message(self, since: float) -> dict | None:
        path = f"/webhooks/{DISCORD_APP_ID}/{self.token}"
        return next((m for m in self.chat_apis.delivered("discord") if m["at"] >= since and m["path"] == path), None)

    def text_of(self, message: dict) -> str:
        return message["json"]["content"]


class FeishuChat:
    name = "feishu"

    def __init__(self, app: Any, fake: FakeFeishuCards, stream: bool) -> None:
        self.url, self.fake = app.url, fake
        self.chat = f"oc_bench_{'s' if stream else 'w'}{id(self) % 100000}"
        self.message_id = ""

    def say(self, words: str, n: int) -> None:
        self.message_id = f"om_{self.chat}_{n}"
        event = feishu_event("feishu_p2p_text.json", message_id=self.message_id, chat_id=self.chat,
                             content=json.dumps({"text": words}))
        body, headers = feishu_request(event)
        assert requests.post(self.url + "/webhooks/feishu", data=body, headers=headers, timeout=10).status_code == 200

    def message(self, since: float) -> dict | None:
        path = f"/open-apis/im/v1/messages/{self.message_id}/reply"
        with self.fake._cv:
            found = [m for m in self.fake.delivered if m["at"] >= since and m["path"] == path]
        return found[0] if found else None

    def text_of(self, message: dict) -> str:
        return self.fake.text_of(message)

