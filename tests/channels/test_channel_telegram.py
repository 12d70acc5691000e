"""Telegram end to end: updates as Telegram posts them, replies at a fake Bot API on loopback."""
from __future__ import annotations

import json
import logging
import threading
import time

import pytest

from smartbot.settings import loading as config_module
from smartbot.errors import ConfigError
from smartbot.gateway import inbox
from tests.support.fake_chat_apis import TELEGRAM_SECRET, TELEGRAM_TOKEN, TELEGRAM_USERNAME, channel_config
from tests.support.platform_clients import (TelegramSender, audit_rows, inbox_rows, model_answer, quiet_for, sample,
                                            wait_for_audit)

BOT_ID = int(TELEGRAM_TOKEN.split(":")[0])


@pytest.fixture
def telegram(live_app, make_config, fake_model, fake_chat_apis):
    """Start the app with a Telegram channel (extra settings as keywords); returns (app, sender)."""
    def start(app_settings=None, **settings):
        cfg = make_config(model=fake_model, **(app_settings or {}),
                          channels={"telegram": channel_config("telegram", fake_chat_apis, **settings)})
        app = live_app(cfg)
        return app, TelegramSender(app.url, TELEGRAM_SECRET)
    return start


def _private(text="disk usage please", message_id=41, update_id=870001, **extra):
    update = sample("telegram_private_text.json")
    update["update_id"] = update_id
    update["message"].update(message_id=message_id, date=int(time.time()), text=text, **extra)
    return update


def _group(text, entities=(), message_id=42, update_id=870002, **extra):
    update = sample("telegram_group_mention.json")
    update["update_id"] = update_id
    update["message"].update(message_id=message_id, date=int(time.time()), text=text, entities=list(entities),
                             **extra)
    return update


def _mention(offset=0):
    return {"type": "mention", "offset": offset, "length": len(TELEGRAM_USERNAME) + 1}


def test_private_message_gets_exactly_one_reply_in_sendmessage_shape(telegram, fake_chat_apis):
    app, tg = telegram()
    resp = tg.post(_private())
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    sent = fake_chat_apis.wait_for("telegram", 1)
    quiet_for()
    assert len(fake_chat_apis.delivered("telegram")) == 1
    assert sent[0]["path"] == f"/bot{TELEGRAM_TOKEN}/sendMessage"
    body = sent[0]["json"]
    assert body["chat_id"] == "5550001"
    assert body["text"] == "echo: disk usage please"
    assert body["reply_parameters"] == {"message_id": 41, "allow_sending_without_reply": True}
    assert body["parse_mode"] == "HTML"


def test_group_message_without_mention_gets_no_reply(telegram, fake_chat_apis, fake_model):
    app, tg = telegram(bot_username=TELEGRAM_USERNAME)
    assert tg.post(_group("what is the load?", message_id=50)).json()["status"] == "accepted"
    # The same sender's next message is handled after it, so when this reply arrives the first is done.
    tg.post(_group(f"@{TELEGRAM_USERNAME} what is the load?", [_mention()], message_id=51, update_id=870003))
    sent = fake_chat_apis.wait_for("telegram", 1)
    quiet_for()
    assert [s["json"]["text"] for s in fake_chat_apis.delivered("telegram")] == ["echo: what is the load?"]
    assert sent[0]["json"]["reply_parameters"]["message_id"] == 51
    assert fake_model.calls() == 1


def test_group_mention_is_recognised_with_the_username_learned_from_getme(telegram, fake_chat_apis):
    app, tg = telegram()
    tg.post(_group(f"@{TELEGRAM_USERNAME} what is the load?", [_mention()]))
    sent = fake_chat_apis.wait_for("telegram", 1)
    assert sent[0]["json"]["text"] == "echo: what is the load?"
    assert sent[0]["json"]["chat_id"] == "-100123456789"
    assert [r["path"] for r in fake_chat_apis.requests if r["path"].endswith("/getMe")] == \
        [f"/bot{TELEGRAM_TOKEN}/getMe"]


def test_a_webhook_request_makes_no_call_to_telegram(telegram, fake_chat_apis, monkeypatch):
    """getMe is the worker's to ask, never the webhook's while Telegram waits for its answer; the
    first mention is recognised all the same."""
    app, tg = telegram()                     # no bot_username: it is learned with getMe
    channel = app.runtime.channels["telegram"]
    real_settle, release = channel.settle, threading.Event()

    def settle_when_released(msg):
        release.wait(10)
        return real_settle(msg)

    monkeypatch.setattr(channel, "settle", settle_when_released)     # the worker waits: only the webhook runs
    resp = tg.post(_group(f"@{TELEGRAM_USERNAME} what is the load?", [_mention()]))
    assert resp.status_code == 200 and resp.json()["status"] == "accepted"
    assert fake_chat_apis.requests == [], "the webhook called Telegram before its ack"
    release.set()
    assert fake_chat_apis.wait_for("telegram", 1)[0]["json"]["text"] == "echo: what is the load?"
    assert [r["path"] for r in fake_chat_apis.requests] == [f"/bot{TELEGRAM_TOKEN}/getMe",
                                                           f"/bot{TELEGRAM_TOKEN}/sendMessage"]


def test_mention_offsets_count_utf16_units(telegram, fake_chat_apis):
    app, tg = telegram(bot_username=TELEGRAM_USERNAME)
    text = f"😀 @{TELEGRAM_USERNAME} status"      # the emoji is two UTF-16 units
    tg.post(_group(text, [_mention(offset=3)]))
    assert fake_chat_apis.wait_for("telegram", 1)[0]["json"]["text"] == "echo: 😀 status"


@pytest.mark.parametrize("configured", [TELEGRAM_USERNAME, ""], ids=["configured", "learned"])
def test_commands_for_this_bot_are_answered_and_for_other_bots_ignored(telegram, fake_chat_apis, configured):
    app, tg = telegram(bot_username=configured)
    command = f"/whoami@{TELEGRAM_USERNAME}"
    tg.post(_group("/whoami@other_bot", [{"type": "bot_command", "offset": 0, "length": 17}], message_id=60))
    tg.post(_group(command, [{"type": "bot_command", "offset": 0, "length": len(command)}], message_id=61))
    sent = fake_chat_apis.wait_for("telegram", 1)
    quiet_for()
    assert len(fake_chat_apis.delivered("telegram")) == 1
    assert sent[0]["json"]["text"].splitlines()[0] == "Wang (guest)" and "telegram:" in sent[0]["json"]["text"]


def test_reply_to_the_bot_counts_as_addressed(telegram, fake_chat_apis):
    app, tg = telegram(bot_username=TELEGRAM_USERNAME)
    earlier = {"message_id": 7, "date": int(time.time()) - 60, "text": "hello",
               "from": {"id": BOT_ID, "is_bot": True, "first_name": "SmartBot"}}
    tg.post(_group("and the memory?", reply_to_message=earlier))
    assert fake_chat_apis.wait_for("telegram", 1)[0]["json"]["text"] == "echo: and the memory?"


def test_group_trigger_always_answers_every_group_message(telegram, fake_chat_apis):
    app, tg = telegram(bot_username=TELEGRAM_USERNAME, group_trigger="always")
    tg.post(_group("what is the load?"))
    assert fake_chat_apis.wait_for("telegram", 1)[0]["json"]["text"] == "echo: what is the load?"


def test_forged_or_missing_secret_is_refused_audited_and_never_stored(telegram, fake_chat_apis, fake_model):
    app, tg = telegram()
    wrong = tg.post(_private(), secret_token="not-the-secret")
    missing = tg.post(_private(), secret_token="")
    assert (wrong.status_code, missing.status_code) == (401, 401)
    assert "does not match" in wrong.json()["error"] and "missing" in missing.json()["error"]
    quiet_for()
    assert inbox_rows(app) == 0 and fake_model.calls() == 0 and fake_chat_apis.requests == []
    rows = audit_rows(app, "webhook.refused")
    assert rows and "channel:telegram" == rows[0].target
    assert TELEGRAM_SECRET not in json.dumps([r.details for r in rows])


def test_replay_under_a_new_update_id_gets_no_second_reply(telegram, fake_chat_apis, fake_model):
    app, tg = telegram()
    statuses = [tg.post(_private(update_id=u)).json()["status"] for u in (870001, 870001, 990001)]
    assert statuses == ["accepted", "duplicate", "duplicate"]
    fake_chat_apis.wait_for("telegram", 1)
    quiet_for()
    assert len(fake_chat_apis.delivered("telegram")) == 1 and fake_model.calls() == 1


def test_stale_message_is_ignored(telegram, fake_chat_apis):
    app, tg = telegram()
    update = _private()
    update["message"]["date"] = int(time.time()) - 3 * 86400
    assert tg.post(update).json()["status"] == "ignored"
    quiet_for()
    assert inbox_rows(app) == 0 and fake_chat_apis.requests == []


def test_updates_that_are_not_messages_are_acknowledged_and_ignored(telegram, fake_chat_apis):
    app, tg = telegram()
    now = int(time.time())
    chat = {"id": -100123, "type": "supergroup", "title": "ops"}
    person = {"id": 5550002, "is_bot": False, "first_name": "Wang"}
    updates = [
        {"update_id": 1, "edited_message": {"message_id": 1, "date": now, "text": "x", "chat": chat, "from": person}},
        {"update_id": 2, "channel_post": {"message_id": 2, "date": now, "text": "x",
                                          "chat": {"id": -100999, "type": "channel"}}},
        {"update_id": 3, "callback_query": {"id": "cb", "from": person, "data": "x"}},
        {"update_id": 4, "my_chat_member": {"chat": chat, "from": person, "date": now}},
        {"update_id": 5, "message": {"message_id": 5, "date": now, "text": "beep", "chat": chat,
                                     "from": {"id": 999, "is_bot": True, "first_name": "OtherBot"}}},
        {"update_id": 6, "message": {"message_id": 6, "date": now, "chat": chat, "from": person,
                                     "new_chat_members": [person]}},
    ]
    for update in updates:
        resp = tg.post(update)
        assert (resp.status_code, resp.json()["status"]) == (200, "ignored"), update
    quiet_for()
    assert inbox_rows(app) == 0 and fake_chat_apis.requests == []


def test_photo_with_caption_notes_the_attachment(telegram, fake_chat_apis):
    app, tg = telegram()
    update = _private(text=None)
    del update["message"]["text"]
    update["message"].update(caption="what is this?", photo=[{"file_id": "small", "width": 90},
                                                             {"file_id": "large", "width": 1280}])
    tg.post(update)
    # This fake has no file API: the photo cannot be had, the caption is still answered.
    assert fake_chat_apis.wait_for("telegram", 1)[0]["json"]["text"].startswith("echo: what is this?")
    _, stored = inbox.load(app.runtime.db, 1)       # the message as stored, as the pipeline saw it
    assert [(a.kind, a.key) for a in stored.attachments] == [("image", "large")]
    assert stored.locale == "zh-hans" and stored.user_name == "li_ops"


def test_malformed_bodies_get_400_and_nothing_else_happens(telegram, fake_chat_apis, fake_model):
    app, tg = telegram()
    no_chat = _private()
    del no_chat["message"]["chat"]
    for body in (b'{"update_id": 1, "message": {', b"[1, 2, 3]", b"", no_chat):
        resp = tg.post(body)
        assert resp.status_code == 400, body
        assert resp.json()["error"]
    quiet_for()
    assert inbox_rows(app) == 0 and fake_model.calls() == 0 and fake_chat_apis.requests == []


def test_rate_limited_send_is_retried_after_retry_after(telegram, fake_chat_apis):
    app, tg = telegram()
    fake_chat_apis.script("telegram", (429, {"ok": False, "error_code": 429, "parameters": {"retry_after": 1},
                                             "description": "Too Many Requests: retry after 1"}, {}))
    tg.post(_private())
    sent = fake_chat_apis.wait_for("telegram", 1, timeout=15)
    attempts = fake_chat_apis.attempts("telegram")
    assert len(sent) == 1 and len(attempts) == 2
    assert attempts[1]["at"] - attempts[0]["at"] >= 0.9


def test_long_reply_is_split_into_messages_of_at_most_4096(telegram, fake_chat_apis, fake_model):
    app, tg = telegram()
    words = " ".join(f"word{i}" for i in range(1800))      # ~15,000 characters
    fake_model.script(model_answer(words))
    tg.post(_private())
    sent = fake_chat_apis.wait_for("telegram", 4, timeout=15)
    texts = [s["json"]["text"] for s in sent]
    assert len(texts) == 4 and all(len(t) <= 4096 for t in texts)
    assert " ".join(texts).split() == words.split()


def test_markdown_becomes_telegram_html_and_falls_back_to_plain_when_refused(telegram, fake_chat_apis,
                                                                            fake_model):
    app, tg = telegram()
    fake_model.script(model_answer("**Disk** is at 80% & <rising>"))
    tg.post(_private(message_id=70))
    first = fake_chat_apis.wait_for("telegram", 1)[0]["json"]
    assert first["text"] == "<b>Disk</b> is at 80% &amp; &lt;rising&gt;" and first["parse_mode"] == "HTML"
    fake_model.script(model_answer("**odd** reply"))
    fake_chat_apis.script("telegram", (400, {"ok": False, "error_code": 400,
                                             "description": "Bad Request: can't parse entities: x"}, {}))
    tg.post(_private(message_id=71, update_id=870005))
    second = fake_chat_apis.wait_for("telegram", 2)[1]["json"]
    assert second["text"] == "**odd** reply" and "parse_mode" not in second


def test_refused_send_fails_for_good_and_the_token_is_never_logged(telegram, fake_chat_apis, caplog):
    caplog.set_level(logging.DEBUG)
    app, tg = telegram(app_settings={"log_level": "DEBUG"})
    fake_chat_apis.script("telegram", (403, {"ok": False, "error_code": 403,
                                             "description": "Forbidden: bot was blocked by the user"}, {}))
    tg.post(_private())
    failed = wait_for_audit(app, "reply.failed")
    assert len(failed) == 1 and "bot was blocked by the user" in failed[0].details
    assert len(fake_chat_apis.attempts("telegram")) == 1
    secret_part = TELEGRAM_TOKEN.split(":")[1]
    assert "reply.failed" in caplog.text          # this request's log lines were captured
    assert secret_part not in caplog.text and secret_part not in failed[0].details


@pytest.mark.parametrize("key, value, problem", [
    ("bot_token", "not-a-token", "does not look like a bot token"),
    ("secret_token", "has spaces in it", "1-256 characters"),
    ("group_trigger", "sometimes", "must be one of mention, always"),
])
def test_bad_settings_name_the_key_and_the_fix(key, value, problem):
    section = {"bot_token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET, key: value}
    with pytest.raises(ConfigError) as err:
        config_module.load({"channels": {"telegram": section}}, env={"SMARTBOT_SECRET_KEY": "k" * 40})
    assert err.value.key == f"channels.telegram.{key}" and problem in str(err.value)
