"""Telegram in connect mode against a fake Bot API on loopback: long polling through the whole path.

The app runs for real (in this process, or under gunicorn with two workers); the fake keeps updates
as Telegram does and fails the test's assertions when two getUpdates calls overlap.
"""
from __future__ import annotations

import time
from typing import Any, Iterator

import pytest
import requests

from tests.support import fake_telegram
from tests.support.fake_telegram import FakeTelegram, text_update
from tests.support.platform_clients import audit_rows, quiet_for, wait_for_audit
from tests.support.waiting import wait_until


@pytest.fixture
def telegram() -> Iterator[FakeTelegram]:
    server = FakeTelegram().start()
    yield server
    server.stop()


def polling_config(make_config: Any, fake_model: Any, telegram: FakeTelegram, **channels: Any) -> dict[str, Any]:
    section = {"bot_token": fake_telegram.TOKEN, "mode": "connect", "api_base": telegram.base}
    return make_config(model=fake_model, channels={"telegram": section, "takeover_seconds": 5, **channels})


def replies(telegram: FakeTelegram) -> list[tuple[int, str]]:
    return [(int(s["chat_id"]), s["text"]) for s in telegram.sent]


def test_one_message_in_one_reply_out_under_gunicorn(gunicorn_app, make_config, fake_model, telegram):
    app = gunicorn_app(polling_config(make_config, fake_model, telegram), workers=2)
    telegram.push(text_update(7001, 1, "hello over polling"))
    assert [(int(s["chat_id"]), s["text"]) for s in telegram.wait_sent(1)] == [(7001, "echo: hello over polling")]
    assert telegram.sent[0]["reply_parameters"]["message_id"] == 1
    assert telegram.calls.get("deleteWebhook", 0) >= 1 and telegram.webhook_url == ""
    assert "called deleteWebhook" in app.log()
    quiet_for(1.0)
    assert len(telegram.sent) == 1
    assert telegram.overlaps == [] and telegram.max_polling == 1
    res = requests.post(app.url + "/webhooks/telegram", json={"update_id": 1}, timeout=5)
    assert res.status_code == 404 and "connect mode" in res.json()["error"]
    res = requests.get(app.url + "/webhooks/telegram", timeout=5)          # through Flask's route
    assert res.status_code == 404 and "connect mode" in res.json()["error"]
    ready = app.get("/readyz").json()["checks"]["channels"]["telegram"]
    assert ready["ok"] and ready["mode"] == "connect" and ready["connected"] is True


def test_an_update_delivered_twice_and_again_after_a_reconnect_is_answered_once(live_app, make_config, fake_model,
                                                                                telegram):
    app = live_app(polling_config(make_config, fake_model, telegram))
    update = text_update(7002, 10, "only once please")
    update_id = telegram.push(update)
    assert len(telegram.wait_sent(1)) == 1
    telegram.push_raw({"update_id": update_id, **update})      # as if the offset had not been saved
    polls = telegram.calls["getUpdates"]
    telegram.drop_polls(1)                                      # the platform cuts the connection
    assert telegram.wait_polled(polls + 3)
    telegram.push(update)                                       # Telegram replays it under a new update_id
    telegram.push(text_update(7002, 11, "and a new one"))
    sent = telegram.wait_sent(2)
    quiet_for(1.0)
    assert replies(telegram) == [(7002, "echo: only once please"), (7002, "echo: and a new one")]
    assert [s["text"] for s in sent] == ["echo: only once please", "echo: and a new one"]
    assert wait_until(lambda: app.get("/readyz").json()["checks"]["channels"]["telegram"]["reconnects"] >= 1, 10)
    assert telegram.overlaps == []


def test_a_malformed_update_is_dropped_logged_audited_once_and_polling_goes_on(live_app, make_config, fake_model,
                                                                                telegram, caplog):
    config = polling_config(make_config, fake_model, telegram)
    config["audit"] = {"refusal_audit_interval": 60.0}
    app = live_app(config)
    telegram.push({"message": {"message_id": 1, "chat": "not an object", "text": "x"}})
    telegram.push({"message": {"message_id": 2, "chat": {"id": "also bad"}, "text": "x"}})
    telegram.push_raw(["not", "an", "update"])
    telegram.push(text_update(7003, 3, "still here?"))
    assert [s["text"] for s in telegram.wait_sent(1)] == ["echo: still here?"]
    rows = wait_for_audit(app, "connection.refused")
    quiet_for(0.5)
    assert len(audit_rows(app, "connection.refused")) == 1
    assert rows[0].target == "channel:telegram" and fake_telegram.TOKEN not in str(rows[0].details)
    assert "refused channel:telegram" in caplog.text and fake_telegram.TOKEN not in caplog.text


def test_rate_limits_and_a_webhook_set_again_are_waited_out(live_app, make_config, fake_model, telegram):
    telegram.script_polls((429, {"ok": False, "error_code": 429, "description": "Too Many Requests: retry after 1",
                                 "parameters": {"retry_after": 1}}))
    live_app(polling_config(make_config, fake_model, telegram))
    telegram.push(text_update(7004, 1, "after the wait"))
    assert [s["text"] for s in telegram.wait_sent(1)] == ["echo: after the wait"]
    telegram.webhook_url = "https://example.invalid/again"     # someone called setWebhook meanwhile
    deletes = telegram.calls["deleteWebhook"]
    telegram.push(text_update(7004, 2, "after the webhook"))
    assert [s["text"] for s in telegram.wait_sent(2)][1:] == ["echo: after the webhook"]
    assert telegram.calls["deleteWebhook"] > deletes


def test_back_in_webhook_mode_the_webhook_is_registered_again(live_app, make_config, fake_model, telegram, caplog):
    telegram.webhook_url = ""                                   # as polling left it
    url = "https://bot.example.com/webhooks/telegram"
    section = {"bot_token": fake_telegram.TOKEN, "secret_token": "tg-webhook-secret_0123456789",
               "webhook_url": url, "api_base": telegram.base}
    app = live_app(make_config(model=fake_model, channels={"telegram": section}))
    # The log line follows Telegram's answer, so the fake may see the call a moment before it is written.
    assert wait_until(lambda: telegram.webhook_url == url and "called setWebhook" in caplog.text, 10)
    assert fake_telegram.TOKEN not in caplog.text
    assert telegram.calls.get("getUpdates", 0) == 0
    assert app.get("/readyz").json()["checks"]["channels"]["telegram"]["webhook"] is True


def test_an_offset_that_has_not_moved_for_a_week_is_dropped(live_app, make_config, fake_model, telegram,
                                                             database_url):
    """After a quiet week Telegram may number updates afresh, below the saved offset."""
    from smartbot.gateway.connections import Leases
    from smartbot.storage.db import Database

    db = Database(database_url)
    db.upgrade()
    leases, gone = Leases(db), "another-node:1:1"
    token = leases.take("telegram", gone, ttl=0.01)
    leases.save_cursor("telegram", gone, token, {"offset": 10**9, "saved_at": int(time.time()) - 8 * 86400})
    db.dispose()
    live_app(polling_config(make_config, fake_model, telegram))
    telegram.push(text_update(7005, 1, "after a quiet week"))
    assert [s["text"] for s in telegram.wait_sent(1)] == ["echo: after a quiet week"]


def _group(message_id: int, text: str, **extra: Any) -> dict[str, Any]:
    update = text_update(-1009001, message_id, text, user_id=9002)
    update["message"]["chat"] = {"id": -1009001, "type": "supergroup", "title": "ops"}
    update["message"].update(extra)
    return update


def test_in_a_group_the_mention_rules_of_the_webhook_path_hold(live_app, make_config, fake_model, telegram):
    """Polling hands updates to the same parse as the webhook: in a group the bot answers a mention of
    it and a reply to its own message, not other talk (its username learned with getMe)."""
    live_app(polling_config(make_config, fake_model, telegram))
    name = f"@{fake_telegram.USERNAME}"
    telegram.push(_group(1, "lunch anyone?"))
    telegram.push(_group(2, f"{name} disk usage", entities=[{"type": "mention", "offset": 0, "length": len(name)}]))
    telegram.push(_group(3, "@someone_else hi", entities=[{"type": "mention", "offset": 0, "length": 13}]))
    telegram.push(_group(4, "and the log?", reply_to_message={
        "message_id": 77, "date": int(time.time()), "chat": {"id": -1009001, "type": "supergroup"},
        "from": {"id": fake_telegram.BOT_ID, "is_bot": True, "first_name": "SmartBot"}, "text": "..."}))
    telegram.wait_sent(2)
    quiet_for(1.5)
    assert sorted((s["reply_parameters"]["message_id"], s["text"]) for s in telegram.sent) == [
        (2, "echo: disk usage"), (4, "echo: and the log?")]
