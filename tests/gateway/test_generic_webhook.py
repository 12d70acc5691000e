"""The generic signed webhook end to end: signed in, one reply out, bad input refused."""
from __future__ import annotations

import json
import time

import requests

from tests.conftest import GENERIC_SECRET
from tests.support.signing import signature


def _msg(event_id: str, text: str = "hello", **extra):
    return {"event_id": event_id, "chat_id": "chat-1", "user_id": "u-1", "user_name": "Alice", "text": text, **extra}


def test_signed_webhook_gets_exactly_one_signed_reply(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    resp = app.post_generic(_msg("ev-1", "hello there"))
    assert resp.status_code == 200
    assert resp.json()["status"] == "accepted"
    got = fake_platform.wait_for(1)
    time.sleep(0.3)
    assert len(fake_platform.received) == 1
    reply = got[0]
    assert reply["json"]["text"] == "echo: hello there"
    assert reply["json"]["reply_to"] == "ev-1"
    assert reply["json"]["chat_id"] == "chat-1"
    assert reply["json"]["event_id"] and reply["json"]["event_id"] != "ev-1"
    ts = reply["headers"]["X-SmartBot-Timestamp"]
    assert reply["headers"]["X-SmartBot-Signature"] == signature(GENERIC_SECRET, ts, reply["body"])


def test_ack_comes_before_the_model_answers(live_app, make_config, fake_model, fake_platform):
    fake_model.delay = 2.0
    app = live_app(make_config(model=fake_model))
    started = time.monotonic()
    resp = app.post_generic(_msg("ev-slow"))
    assert resp.status_code == 200
    assert time.monotonic() - started < 1.0
    assert fake_platform.wait_for(1, timeout=10)[0]["json"]["text"] == "echo: hello"


def test_same_event_sent_three_times_gets_one_reply(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    statuses = [app.post_generic(_msg("ev-dup")).json()["status"] for _ in range(3)]
    assert statuses == ["accepted", "duplicate", "duplicate"]
    fake_platform.wait_for(1)
    time.sleep(0.5)
    assert len(fake_platform.replies_to("ev-dup")) == 1
    assert fake_model.calls() == 1


def test_bad_requests_are_refused_with_reasons_and_never_reach_the_model(live_app, make_config, fake_model,
                                                                        fake_platform):
    app = live_app(make_config(model=fake_model, max_body_bytes=4096))
    url = app.url + "/webhooks/generic"
    body = json.dumps(_msg("ev-bad")).encode()
    now = str(int(time.time()))

    def post(data: bytes, headers: dict[str, str], path: str = "/webhooks/generic") -> requests.Response:
        return requests.post(app.url + path, data=data, headers={"Content-Type": "application/json", **headers},
                             timeout=5)

    cases = {
        "no signature": (post(body, {"X-SmartBot-Timestamp": now}), 401),
        "wrong signature": (post(body, {"X-SmartBot-Timestamp": now,
                                        "X-SmartBot-Signature": signature("wrong-secret", now, body)}), 401),
        "stale timestamp": (app.post_generic(_msg("ev-old"), timestamp=int(time.time()) - 600), 401),
        "future timestamp": (app.post_generic(_msg("ev-future"), timestamp=int(time.time()) + 600), 401),
        "malformed json": (app.post_generic(b'{"event_id": "x",'), 400),
        "not an object": (app.post_generic([1, 2, 3]), 400),
        "missing text": (app.post_generic({"event_id": "e", "chat_id": "c", "user_id": "u"}), 400),
        "missing event_id": (app.post_generic({"chat_id": "c", "user_id": "u", "text": "hi"}), 400),
        "bad chat_type": (app.post_generic(_msg("ev-ct", chat_type="channel")), 400),
        "oversized": (app.post_generic(_msg("ev-big", "x" * 8000)), 413),
        "unknown channel": (post(body, {}, "/webhooks/nosuchchannel"), 404),
    }
    for name, (resp, status) in cases.items():
        assert resp.status_code == status, (name, resp.status_code, resp.text)
        assert resp.json()["error"], name
    assert "signature" in cases["wrong signature"][0].json()["error"]
    assert "window" in cases["stale timestamp"][0].json()["error"]
    assert "text" in cases["missing text"][0].json()["error"]
    assert "nosuchchannel" in cases["unknown channel"][0].json()["error"]
    time.sleep(0.3)
    assert fake_model.calls() == 0
    assert fake_platform.attempts == 0
    metrics = app.get("/metrics").text
    assert 'smartbot_webhook_refused_total{channel="generic",reason="signature"} 4.0' in metrics
    assert 'smartbot_webhook_refused_total{channel="generic",reason="payload"} 6.0' in metrics
    assert 'reason="unknown_channel"' in metrics


def test_refusals_are_audited(live_app, make_config):
    import sqlalchemy as sa

    from smartbot.storage.tables import AuditLog

    app = live_app(make_config())
    app.post_generic(_msg("ev-x"), secret="not-the-secret")
    with app.runtime.db.read() as conn:
        rows = conn.execute(sa.select(AuditLog.__table__).where(AuditLog.__table__.c.action == "webhook.refused")).all()
    assert len(rows) == 1
    assert rows[0].result == "refused"
    assert "signature" in json.loads(rows[0].details)["reason"]
    assert GENERIC_SECRET not in rows[0].details


def test_webhook_headers_read_from_the_environ_match_werkzeugs_view():
    """The webhook reads headers straight from the WSGI environ; channels must see what werkzeug sees."""
    from werkzeug.test import EnvironBuilder
    from werkzeug.wrappers import Request

    from smartbot.channels.base import Headers

    environ = EnvironBuilder(method="POST", path="/webhooks/generic", data=b"{}", content_type="application/json",
                             headers={"X-SmartBot-Signature": "sha256=ab", "X-Slack-Request-Timestamp": "1",
                                      "User-Agent": "t/1"}).get_environ()
    werkzeugs = Headers(dict(Request(environ).headers))
    ours = Headers.from_environ(environ)
    assert ours == werkzeugs
    assert ours["x-smartbot-signature"] == "sha256=ab" and ours.get("Content-Type") == "application/json"
    assert "content-length" in ours and "X-Slack-Request-Timestamp" in ours
