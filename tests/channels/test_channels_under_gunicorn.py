"""Telegram, Slack and Discord through the shipped gunicorn setup: several processes, one reply each."""
from __future__ import annotations

import time

from nacl.signing import SigningKey

from tests.support.fake_chat_apis import (DISCORD_SIGNING_SEED, SLACK_SIGNING_SECRET, TELEGRAM_SECRET,
                                          channel_config)
from tests.support.platform_clients import DiscordSender, SlackSender, TelegramSender, quiet_for, sample


def test_each_platform_gets_one_reply_per_message_under_gunicorn(gunicorn_app, make_config, fake_model,
                                                                fake_chat_apis):
    channels = {name: channel_config(name, fake_chat_apis) for name in ("telegram", "slack", "discord")}
    app = gunicorn_app(make_config(model=fake_model, channels=channels), workers=2)
    update = sample("telegram_private_text.json")
    update["message"]["date"] = int(time.time())
    telegram, slack = TelegramSender(app.url, TELEGRAM_SECRET), SlackSender(app.url, SLACK_SIGNING_SECRET)
    discord = DiscordSender(app.url, SigningKey(DISCORD_SIGNING_SEED))
    for _ in range(3):      # platforms' retries land on either worker process
        assert telegram.post(update).status_code == 200
        assert slack.post(sample("slack_im_message.json")).status_code == 200
        assert discord.post(sample("discord_slash_ask.json")).json() == {"type": 5}
    assert discord.post(sample("discord_ping.json")).json() == {"type": 1}
    assert slack.post(sample("slack_url_verification.json")).json()["challenge"]
    assert telegram.post(update, secret_token="forged").status_code == 401
    expected = {"telegram": ("text", "echo: disk usage please"), "slack": ("text", "echo: restart worker"),
                "discord": ("content", "echo: how much disk is left on web-1?")}
    for platform, (field, text) in expected.items():
        assert [s["json"][field] for s in fake_chat_apis.wait_for(platform, 1, timeout=20)] == [text], platform
    quiet_for(1.0)
    assert {p: len(fake_chat_apis.delivered(p)) for p in expected} == {p: 1 for p in expected}
