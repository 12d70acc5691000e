"""Platform replays hours later and after a restart: the same message under a NEW delivery id
(Feishu: new header.event_id, same message_id; Telegram: new update_id, same chat + message_id)
gets no second reply. "Hours later" is real for the database: the stored rows are aged six hours
and the retention purge runs before the replay, then the app is started afresh on the same file."""
from __future__ import annotations

import json
import secrets
import time

import requests
import sqlalchemy as sa

from smartbot.gateway import inbox
from smartbot.messages import InboundMessage
from tests.support.fake_chat_apis import TELEGRAM_SECRET, channel_config
from tests.support.fake_open_platforms import FakeFeishu, running
from tests.support.platform_clients import TelegramSender, quiet_for, sample
from tests.support.platform_requests import feishu_event, feishu_request

SIX_HOURS = 6 * 3600
FEISHU_APP_ID, FEISHU_APP_SECRET = "cli_test", "feishu-app-secret-for-tests"


def _age_everything(app, seconds: float) -> None:
    """Move every stored message and reply `seconds` into the past, as if that much time passed."""
    with app.runtime.db.write() as conn:
        for table in ("inbox", "outbox"):
            conn.execute(sa.text(f"UPDATE {table} SET created_at = created_at - :s, "
                                 f"finished_at = finished_at - :s, next_attempt_at = next_attempt_at - :s"),
                         {"s": seconds})


def _purge_with_a_witness(app) -> None:
    """Run the retention purge; a message older than the dedup window must go, proving it ran."""
    inbox.accept(app.runtime.db, InboundMessage(channel="generic", event_id="witness", chat_id="w", user_id="w",
                                                text="x"), None, 30)
    with app.runtime.db.write() as conn:
        conn.execute(sa.text("UPDATE inbox SET status = 'done', finished_at = :t WHERE event_id = 'witness'"),
                     {"t": time.time() - 8 * 86400})
    app.runtime.worker.purge()
    with app.runtime.db.read() as conn:
        keys = [r[0] for r in conn.execute(sa.text("SELECT event_id FROM inbox"))]
    assert "witness" not in keys, "the purge did not run"
    assert keys, "the purge dropped a message inside the dedup window"


def _restart(app, live_app):
    config = app.config
    app.stop()
    return live_app(config)


def test_telegram_replay_under_a_new_update_id_hours_later_and_after_restart_gets_no_reply(
        live_app, make_config, fake_model, fake_chat_apis):
    cfg = make_config(model=fake_model, channels={"telegram": channel_config("telegram", fake_chat_apis)})
    app = live_app(cfg)
    update = sample("telegram_private_text.json")
    update["update_id"] = 700001
    update["message"].update(message_id=9001, date=int(time.time()), text="hello once")
    assert TelegramSender(app.url, TELEGRAM_SECRET).post(update).json()["status"] == "accepted"
    fake_chat_apis.wait_for("telegram", 1)
    _age_everything(app, SIX_HOURS)
    update["message"]["date"] -= SIX_HOURS          # the message itself is six hours old now
    _purge_with_a_witness(app)
    app = _restart(app, live_app)
    sender = TelegramSender(app.url, TELEGRAM_SECRET)
    for new_id in (700950, 701337):                 # replayed twice, each under a new update_id
        update["update_id"] = new_id
        resp = sender.post(update)
        assert resp.status_code == 200 and resp.json()["status"] == "duplicate", resp.text
    quiet_for(1.0)
    assert len(fake_chat_apis.delivered("telegram")) == 1
    assert fake_model.calls() == 1


def test_feishu_replay_under_a_new_event_id_hours_later_and_after_restart_gets_no_reply(
        live_app, make_config, fake_model):
    with running(FakeFeishu(FEISHU_APP_ID, FEISHU_APP_SECRET)) as feishu:
        cfg = make_config(model=fake_model, channels={"feishu": {
            "app_id": FEISHU_APP_ID, "app_secret": FEISHU_APP_SECRET, "verification_token": "verification-token",
            "bot_open_id": "ou_bot", "api_base": feishu.url}})
        app = live_app(cfg)
        event = feishu_event("feishu_p2p_text.json", message_id="om_replayed_" + secrets.token_hex(4))

        def post(payload) -> requests.Response:
            body, headers = feishu_request(payload)
            return requests.post(app.url + "/webhooks/feishu", data=body, headers=headers, timeout=10)

        assert post(event).json()["status"] == "accepted"
        feishu.wait_delivered(1)
        _age_everything(app, SIX_HOURS)
        # Feishu re-pushes keep the original create_time: six hours old now
        event["header"]["create_time"] = str(int(event["header"]["create_time"]) - SIX_HOURS * 1000)
        _purge_with_a_witness(app)
        app = _restart(app, live_app)
        for _ in range(2):
            replay = json.loads(json.dumps(event))
            replay["header"]["event_id"] = secrets.token_hex(16)      # a new delivery id each time
            resp = post(replay)
            assert resp.status_code == 200 and resp.json()["status"] == "duplicate", resp.text
        quiet_for(1.0)
        assert len(feishu.delivered) == 1
        assert fake_model.calls() == 1


def test_generic_retry_hours_later_after_restart_gets_no_reply(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    assert app.post_generic({"event_id": "late-1", "chat_id": "c", "user_id": "u", "text": "hi"}).status_code == 200
    fake_platform.wait_for(1)
    _age_everything(app, SIX_HOURS)
    _purge_with_a_witness(app)
    app = _restart(app, live_app)
    resp = app.post_generic({"event_id": "late-1", "chat_id": "c", "user_id": "u", "text": "hi"})
    assert resp.json()["status"] == "duplicate"
    quiet_for(0.5)
    assert len(fake_platform.received) == 1 and fake_model.calls() == 1
