"""The preview methods of channels, called as pipeline/live.py and the outbox call them, against the
fake platform APIs on loopback: what each call sends, and what a refusal becomes."""
from __future__ import annotations

import pytest

from smartbot.channels.discord import DiscordChannel, DiscordConfig
from smartbot.channels.telegram import TelegramChannel, TelegramConfig
from smartbot.errors import DeliveryError
from smartbot.messages import Reply
from smartbot.settings.schema import build
from tests.support.fake_chat_apis import DISCORD_BOT_TOKEN, TELEGRAM_SECRET, TELEGRAM_TOKEN

CHANNEL_ID, ASKED = "1500000000000000009", "1500000000000000010"


def _discord(fake_chat_apis) -> DiscordChannel:
    return DiscordChannel(build(DiscordConfig, {"mode": "connect", "bot_token": DISCORD_BOT_TOKEN,
                                                "api_base": fake_chat_apis.base("discord")}, "channels.discord"))


def _telegram(fake_chat_apis) -> TelegramChannel:
    return TelegramChannel(build(TelegramConfig, {"bot_token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET,
                                                  "api_base": fake_chat_apis.base("telegram")}, "channels.telegram"))


def _reply(channel: str, chat: str, text: str, **context) -> Reply:
    return Reply(channel, chat, text, context, delivery_id="d-preview-1")


def test_a_discord_gateway_preview_is_a_reply_message_edited_in_place_and_typing_is_shown(fake_chat_apis):
    channel = _discord(fake_chat_apis)
    context = {"channel_id": CHANNEL_ID, "message_id": ASKED}
    channel.typing(_reply("discord", CHANNEL_ID, "", **context))
    handle = channel.start_preview(_reply("discord", CHANNEL_ID, "Hal", **context))
    channel.update_preview(_reply("discord", CHANNEL_ID, "Half wr", **context), handle)
    channel.deliver(Reply("discord", CHANNEL_ID, "Half written, now whole", context, preview=handle))
    [message] = fake_chat_apis.delivered("discord")
    assert message["path"] == f"/channels/{CHANNEL_ID}/messages" and message["message_id"] == handle
    assert message["created"]["message_reference"]["message_id"] == ASKED
    assert message["edits"] == ["Half wr", "Half written, now whole"]
    assert [r["path"] for r in fake_chat_apis.calls("discord", "/typing")] == [f"/channels/{CHANNEL_ID}/typing"]


def test_a_handle_that_is_no_discord_id_is_refused_before_any_call(fake_chat_apis):
    channel = _discord(fake_chat_apis)
    with pytest.raises(DeliveryError) as refused:
        channel.update_preview(_reply("discord", CHANNEL_ID, "x", channel_id=CHANNEL_ID), "../../guilds/1")
    assert not refused.value.retryable and fake_chat_apis.requests == []


def test_a_final_edit_refused_for_good_is_sent_as_a_message_of_its_own(fake_chat_apis):
    channel = _discord(fake_chat_apis)
    context = {"channel_id": CHANNEL_ID}
    channel.deliver(Reply("discord", CHANNEL_ID, "the whole answer", context, preview="1500000000000000999"))
    [message] = fake_chat_apis.delivered("discord")              # the preview was gone: Unknown Message
    assert message["json"]["content"] == "the whole answer" and "edits" not in message


def test_a_telegram_draft_refused_becomes_a_message_edited_and_the_final_edit_is_not_repeated(fake_chat_apis):
    channel = _telegram(fake_chat_apis)
    fake_chat_apis.script("telegram", (400, {"ok": False, "error_code": 400,
                                             "description": "Bad Request: method not available"}, {}))
    handle = channel.start_preview(_reply("telegram", "5550001", "Hal", chat_id="5550001", message_id=41))
    assert handle.startswith("message:")
    final = Reply("telegram", "5550001", "Half", {"chat_id": "5550001"}, preview=handle)
    channel.deliver(final)
    channel.deliver(final)              # a retried delivery: Telegram says "not modified", which is done
    [message] = fake_chat_apis.delivered("telegram")
    assert message["json"]["text"] == "Half" and message["edits"] == ["Half"]
    assert [r["path"].rsplit("/", 1)[1] for r in fake_chat_apis.requests] == \
        ["sendMessageDraft", "sendMessage", "editMessageText", "editMessageText"]


def test_a_telegram_private_chat_streams_a_draft_and_the_final_is_one_message(fake_chat_apis):
    channel = _telegram(fake_chat_apis)
    handle = channel.start_preview(_reply("telegram", "5550001", "Hal", chat_id="5550001"))
    channel.update_preview(_reply("telegram", "5550001", "Half", chat_id="5550001"), handle)
    channel.deliver(Reply("telegram", "5550001", "Half done", {"chat_id": "5550001"}, preview=handle))
    drafts = fake_chat_apis.calls("telegram", "sendMessageDraft")
    assert [d["json"]["text"] for d in drafts] == ["Hal", "Half"]
    assert len({d["json"]["draft_id"] for d in drafts}) == 1 and drafts[0]["json"]["draft_id"] > 0
    assert [m["json"]["text"] for m in fake_chat_apis.delivered("telegram")] == ["Half done"]
