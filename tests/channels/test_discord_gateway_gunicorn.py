"""Discord in connect mode through the whole path: the Gateway in, the inbox, the worker, and the reply
posted to the message's channel.

The app runs for real (under gunicorn with two workers, or in this process) against the fake
Gateway of tests/support/fake_discord_gateway.py, whose websocket counts the connections open at once.
"""
from __future__ import annotations

import json
import signal
from typing import Any, Iterator

import pytest
import requests

from tests.support.fake_discord_gateway import BOT_ID, BOT_TOKEN, FakeDiscordGateway
from tests.support.outbox_rows import wait_sent
from tests.support.platform_clients import audit_rows, quiet_for, wait_for_audit
from tests.support.waiting import wait_until

GUILD = "1600000000000000001"
SERVER_CHANNEL = "1500000000000000001"
DM_CHANNEL = "1500000000000000002"


@pytest.fixture
def discord() -> Iterator[FakeDiscordGateway]:
    server = FakeDiscordGateway().start()
    yield server
    server.stop()


def gateway_config(make_config: Any, fake_model: Any, discord: FakeDiscordGateway) -> dict[str, Any]:
    section = {"mode": "connect", "bot_token": BOT_TOKEN, "api_base": discord.api_base}
    return make_config(model=fake_model, channels={"discord": section, "takeover_seconds": 5})


def mention(discord: FakeDiscordGateway, text: str, **extra: Any) -> str:
    return discord.message(f"<@{BOT_ID}> {text}", channel_id=SERVER_CHANNEL, guild_id=GUILD,
                           mentions=[{"id": BOT_ID}], **extra)


def answered(discord: FakeDiscordGateway) -> list[tuple[str, str]]:
    return [(r["channel_id"], r["content"]) for r in discord.replies]


def test_a_mention_and_a_dm_are_answered_and_other_talk_is_not_under_gunicorn(gunicorn_app, make_config,
                                                                              fake_model, discord):
    app = gunicorn_app(gateway_config(make_config, fake_model, discord), workers=2)
    discord.wait_connected()
    asked = mention(discord, "what is the disk usage?")
    discord.message("lunch anyone?", channel_id=SERVER_CHANNEL, guild_id=GUILD)
    discord.message("hello in private", channel_id=DM_CHANNEL)
    discord.wait_replies(2)
    quiet_for(1.0)
    assert sorted(answered(discord)) == [(SERVER_CHANNEL, "echo: what is the disk usage?"),
                                         (DM_CHANNEL, "echo: hello in private")]
    reply = next(r for r in discord.replies if r["channel_id"] == SERVER_CHANNEL)
    assert reply["message_reference"]["message_id"] == asked and reply["allowed_mentions"]["parse"] == []
    assert len(discord.identifies) == 1 and discord.ws.most_at_once == 1
    res = requests.post(app.url + "/webhooks/discord", json={"type": 1}, timeout=5)
    assert res.status_code == 404 and "connect mode" in res.json()["error"]
    assert wait_until(lambda: app.get("/readyz").json()["checks"]["channels"]["discord"]["connected"] is True, 10)
    assert BOT_TOKEN not in app.log()


def test_the_same_message_twice_and_replayed_after_a_resume_is_answered_once(live_app, make_config, fake_model,
                                                                              discord):
    live_app(gateway_config(make_config, fake_model, discord))
    discord.wait_connected()
    mention(discord, "only once please", message_id="1300000000000000900")
    mention(discord, "only once please", message_id="1300000000000000900")
    assert len(discord.wait_replies(1)) == 1
    discord.reconnect()
    discord.wait_connected(opens=2)
    mention(discord, "only once please", message_id="1300000000000000900")
    mention(discord, "and a new one")
    discord.wait_replies(2)
    quiet_for(1.0)
    assert answered(discord) == [(SERVER_CHANNEL, "echo: only once please"), (SERVER_CHANNEL, "echo: and a new one")]
    assert len(discord.identifies) == 1 and len(discord.resumes) == 1


def test_a_dropped_connection_resumes_and_nothing_is_lost(live_app, make_config, fake_model, discord):
    live_app(gateway_config(make_config, fake_model, discord))
    discord.wait_connected()
    discord.drop()
    mention(discord, "sent while the connection was down")
    discord.wait_connected(opens=2)
    discord.wait_replies(1)
    assert answered(discord) == [(SERVER_CHANNEL, "echo: sent while the connection was down")]
    quiet_for(0.5)
    assert len(discord.replies) == 1 and len(discord.identifies) == 1 and discord.ws.most_at_once == 1


def test_a_malformed_frame_is_dropped_audited_once_and_the_connection_kept(live_app, make_config, fake_model, discord):
    config = gateway_config(make_config, fake_model, discord)
    config["audit"] = {"refusal_audit_interval": 60.0}
    app = live_app(config)
    discord.wait_connected()
    for _ in range(2):
        discord.send_raw("{not json")
    mention(discord, "still here?")
    discord.wait_replies(1)
    assert answered(discord) == [(SERVER_CHANNEL, "echo: still here?")]
    wait_for_audit(app, "connection.refused")
    quiet_for(0.5)
    rows = audit_rows(app, "connection.refused")
    assert [json.loads(row.details)["reason"] for row in rows] == ["a frame that is not JSON"]
    assert rows[0].target == "channel:discord" and discord.ready == 1


def test_kill_9_of_the_holder_another_process_resumes_and_every_message_is_answered_once(gunicorn_app, make_config,
                                                                                          fake_model, discord, database_url):
    app = gunicorn_app(gateway_config(make_config, fake_model, discord), workers=2)
    discord.wait_connected()
    for number in range(3):
        mention(discord, f"before {number}")
    discord.wait_replies(3)
    assert wait_sent(database_url, 3)
    app.kill_workers(signal.SIGKILL)             # the holder dies mid-stream; gunicorn starts new workers
    for number in range(3):
        mention(discord, f"during {number}")
    discord.wait_connected(opens=2, timeout=30)
    for number in range(3):
        mention(discord, f"after {number}")
    discord.wait_replies(9, timeout=30)
    quiet_for(1.5)
    texts = sorted(content for _, content in answered(discord))
    assert texts == sorted([f"echo: {when} {n}" for when in ("before", "during", "after") for n in range(3)])
    assert len(discord.identifies) == 1 and len(discord.resumes) >= 1       # the session went on
    assert discord.ws.most_at_once == 1
