"""Discord end to end: interactions signed with PyNaCl, follow-ups at a fake Discord API on loopback."""
from __future__ import annotations

import json
import logging
import time

import pytest
import requests
from nacl.signing import SigningKey

from smartbot.settings import loading as config_module
from smartbot.channels.discord import DiscordChannel, DiscordConfig
from smartbot.errors import ConfigError, DeliveryError
from smartbot.gateway import inbox
from smartbot.messages import Reply
from tests.support.fake_chat_apis import DISCORD_APP_ID, DISCORD_SIGNING_SEED, channel_config
from tests.support.platform_clients import (DiscordSender, audit_rows, inbox_rows, model_answer, quiet_for, sample,
                                            wait_for_audit)

FOLLOW_UP = f"/webhooks/{DISCORD_APP_ID}/interaction-token-test"


@pytest.fixture
def discord(live_app, make_config, fake_model, fake_chat_apis):
    """Start the app with a Discord channel; returns (app, sender signing as Discord would)."""
    def start(app_settings=None, **settings):
        app = live_app(make_config(model=fake_model, **(app_settings or {}),
                                   channels={"discord": channel_config("discord", fake_chat_apis, **settings)}))
        return app, DiscordSender(app.url, SigningKey(DISCORD_SIGNING_SEED))
    return start


def _command(name, options=(), interaction_id="1200000000000000002", **extra):
    payload = sample("discord_slash_ask.json")
    payload["id"] = interaction_id
    payload["data"].update(name=name, options=list(options))
    payload.update(extra)
    return payload


def test_ping_gets_pong_and_a_bad_signature_gets_401(discord):
    app, sender = discord()
    ping = sample("discord_ping.json")
    resp = sender.post(ping)
    assert resp.status_code == 200 and resp.json() == {"type": 1}
    forged = sender.post(ping, signing_key=SigningKey.generate())
    assert forged.status_code == 401


def test_ask_is_deferred_at_once_and_answered_by_one_follow_up(discord, fake_chat_apis, fake_model):
    fake_model.delay = 1.5
    app, sender = discord()
    started = time.monotonic()
    resp = sender.post(sample("discord_slash_ask.json"))
    assert resp.status_code == 200 and resp.json() == {"type": 5}
    assert time.monotonic() - started < 1.0
    sent = fake_chat_apis.wait_for("discord", 1)
    quiet_for()
    assert len(fake_chat_apis.delivered("discord")) == 1
    assert sent[0]["path"] == FOLLOW_UP
    assert sent[0]["json"] == {"content": "echo: how much disk is left on web-1?",
                               "allowed_mentions": {"parse": []}}


def test_other_slash_commands_reach_the_router_as_commands(discord, fake_chat_apis):
    app, sender = discord()
    sender.post(_command("whoami"))
    reply = fake_chat_apis.wait_for("discord", 1)[0]["json"]["content"]
    assert reply.splitlines()[0] == "Anna (guest)" and "an admin needs this identity: discord:" in reply


def test_subcommands_and_message_commands_become_text(discord, fake_chat_apis):
    app, sender = discord()
    sender.post(_command("deploy", [{"type": 1, "name": "service", "options": [
        {"type": 3, "name": "host", "value": "web-1"}, {"type": 4, "name": "replicas", "value": 2}]}]))
    message_command = _command("Explain this", interaction_id="1200000000000000003")
    message_command["data"].update(type=3, target_id="77", resolved={"messages": {"77": {
        "id": "77", "content": "OOMKilled: worker-3"}}})
    sender.post(message_command)
    fake_chat_apis.wait_for("discord", 2)
    texts = [inbox.load(app.runtime.db, row_id)[1].text for row_id in (1, 2)]
    assert texts == ["/deploy service web-1 2", "OOMKilled: worker-3"]


def test_attachment_options_are_noted_not_read_as_words(discord, fake_chat_apis):
    app, sender = discord()
    payload = _command("ask", [{"type": 3, "name": "text", "value": "what is in this log?"},
                               {"type": 11, "name": "file", "value": "88"}])
    payload["data"]["resolved"] = {"attachments": {"88": {
        "id": "88", "filename": "app.log", "content_type": "text/plain; charset=utf-8",
        "url": fake_chat_apis.url + "/attachments/1/88/app.log"}}}
    sender.post(payload)
    # This fake serves no files: the log cannot be had, the question is still answered.
    assert fake_chat_apis.wait_for("discord", 1)[0]["json"]["content"].startswith("echo: what is in this log?")
    _, stored = inbox.load(app.runtime.db, 1)
    assert [(a.kind, a.name, a.key) for a in stored.attachments] == [("file", "app.log", "88")]


def test_direct_message_user_comes_from_user_and_locale_is_kept(discord, fake_chat_apis):
    app, sender = discord()
    payload = sample("discord_slash_ask.json")
    del payload["member"], payload["guild_id"]
    payload.update(user={"id": "1500000000000000009", "username": "li"}, locale="zh-CN", context=1)
    sender.post(payload)
    fake_chat_apis.wait_for("discord", 1)
    _, stored = inbox.load(app.runtime.db, 1)
    assert (stored.chat_type, stored.user_id, stored.user_name, stored.locale) == \
        ("direct", "1500000000000000009", "li", "zh-CN")


def test_forged_tampered_and_stale_requests_are_refused(discord, fake_chat_apis, fake_model):
    app, sender = discord()
    payload = sample("discord_slash_ask.json")
    body = json.dumps(payload).encode()
    ts = str(int(time.time()))
    good_signature = SigningKey(DISCORD_SIGNING_SEED).sign(ts.encode() + body).signature.hex()
    tampered = requests.post(sender.url, data=body.replace(b"web-1", b"db-01"), timeout=5, headers={
        "X-Signature-Ed25519": good_signature, "X-Signature-Timestamp": ts})
    responses = {
        "other key": sender.post(payload, signing_key=SigningKey.generate()),
        "stale": sender.post(payload, timestamp=int(time.time()) - 600),
        "tampered": tampered,
        "no headers": requests.post(sender.url, data=body, timeout=5),
    }
    for name, resp in responses.items():
        assert resp.status_code == 401, name
    assert "window" in responses["stale"].json()["error"]
    quiet_for()
    assert inbox_rows(app) == 0 and fake_model.calls() == 0 and fake_chat_apis.requests == []
    assert audit_rows(app, "webhook.refused")


def test_replayed_interaction_gets_no_second_reply(discord, fake_chat_apis, fake_model):
    app, sender = discord()
    payload = sample("discord_slash_ask.json")
    assert [sender.post(payload).json() for _ in range(2)] == [{"type": 5}, {"type": 5}]
    fake_chat_apis.wait_for("discord", 1)
    quiet_for()
    assert len(fake_chat_apis.delivered("discord")) == 1 and fake_model.calls() == 1


def test_components_and_autocomplete_are_acknowledged_quietly(discord, fake_chat_apis):
    app, sender = discord()
    component = {**sample("discord_slash_ask.json"), "type": 3, "data": {"custom_id": "x", "component_type": 2}}
    autocomplete = {**sample("discord_slash_ask.json"), "type": 4, "id": "1200000000000000077"}
    assert sender.post(component).json() == {"type": 6}
    assert sender.post(autocomplete).json() == {"type": 8, "data": {"choices": []}}
    quiet_for()
    assert inbox_rows(app) == 0 and fake_chat_apis.requests == []


def test_malformed_bodies_get_400_and_nothing_else_happens(discord, fake_chat_apis, fake_model):
    app, sender = discord()
    no_token = sample("discord_slash_ask.json")
    del no_token["token"]
    for body in (b'{"type": 2, "data": {', b"[]", b'{"type": "two"}', no_token):
        resp = sender.post(body)
        assert resp.status_code == 400, body
        assert resp.json()["error"]
    quiet_for()
    assert inbox_rows(app) == 0 and fake_model.calls() == 0 and fake_chat_apis.requests == []


def test_rate_limited_follow_up_is_retried_after_retry_after(discord, fake_chat_apis):
    app, sender = discord()
    fake_chat_apis.script("discord", (429, {"message": "You are being rate limited.", "retry_after": 1.2,
                                            "global": False}, {"Retry-After": "2"}))
    sender.post(sample("discord_slash_ask.json"))
    assert len(fake_chat_apis.wait_for("discord", 1, timeout=15)) == 1
    attempts = fake_chat_apis.attempts("discord")
    assert len(attempts) == 2 and attempts[1]["at"] - attempts[0]["at"] >= 1.1


def test_long_reply_is_split_into_follow_ups_of_at_most_2000(discord, fake_chat_apis, fake_model):
    app, sender = discord()
    words = " ".join(f"word{i}" for i in range(600))      # ~5,300 characters
    fake_model.script(model_answer(words))
    sender.post(sample("discord_slash_ask.json"))
    sent = fake_chat_apis.wait_for("discord", 3, timeout=15)
    texts = [s["json"]["content"] for s in sent]
    assert len(texts) == 3 and all(len(t) <= 2000 for t in texts)
    assert " ".join(texts).split() == words.split()


def test_token_rejected_by_discord_fails_for_good(discord, fake_chat_apis):
    app, sender = discord()
    fake_chat_apis.script("discord", (401, {"message": "Invalid Webhook Token", "code": 50027}, {}))
    sender.post(sample("discord_slash_ask.json"))
    failed = wait_for_audit(app, "reply.failed")
    assert len(failed) == 1 and "no longer accepts this interaction's token" in failed[0].details
    assert "interaction-token-test" not in failed[0].details
    assert len(fake_chat_apis.attempts("discord")) == 1


def test_interaction_token_never_reaches_the_logs(discord, fake_chat_apis, caplog):
    caplog.set_level(logging.DEBUG)
    app, sender = discord(app_settings={"log_level": "DEBUG"})
    sender.post(sample("discord_slash_ask.json"))
    fake_chat_apis.wait_for("discord", 1)
    quiet_for()
    assert "message.handled" in caplog.text                     # the logs of this request were captured
    assert "interaction-token-test" not in caplog.text


def test_reply_after_the_token_expired_fails_for_good_without_calling_discord(fake_chat_apis):
    config = DiscordConfig(**channel_config("discord", fake_chat_apis))
    config.validate("channels.discord")
    channel = DiscordChannel(config)
    expired = Reply("discord", "1300000000000000001", "too late",
                    {"interaction_token": "old-token", "expires_at": time.time() - 1})
    with pytest.raises(DeliveryError) as err:
        channel.send(expired)
    assert not err.value.retryable and "expired (15 minutes)" in err.value.reason
    assert fake_chat_apis.requests == []
    fresh = Reply("discord", "1300000000000000001", "in time",
                  {"interaction_token": "interaction-token-test", "expires_at": time.time() + 60})
    channel.send(fresh)
    assert [r["json"]["content"] for r in fake_chat_apis.delivered("discord")] == ["in time"]
    channel.close()


def test_public_key_from_pynacl_is_accepted_and_a_bad_one_named(fake_chat_apis):
    env = {"SMARTBOT_SECRET_KEY": "k" * 40}
    good = channel_config("discord", fake_chat_apis)
    assert config_module.load({"channels": {"discord": good}}, env=env).channels["discord"].public_key == \
        DiscordSender("", SigningKey(DISCORD_SIGNING_SEED)).public_key
    with pytest.raises(ConfigError) as err:
        config_module.load({"channels": {"discord": {**good, "public_key": "xyz"}}}, env=env)
    assert err.value.key == "channels.discord.public_key" and "64 hexadecimal" in str(err.value)
