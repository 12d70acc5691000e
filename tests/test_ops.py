"""/healthz, /readyz and /metrics."""
from __future__ import annotations


def test_healthz(live_app, make_config):
    app = live_app(make_config())
    resp = app.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


def test_readyz_reports_its_checks(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    resp = app.get("/readyz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ready"
    assert body["checks"]["database"]["ok"] and body["checks"]["workers"]["ok"]
    assert body["checks"]["models"]["configured"] == ["main"]


def test_readyz_fails_when_workers_are_stopped(live_app, make_config):
    app = live_app(make_config())
    app.runtime.stop()
    resp = app.get("/readyz")
    assert resp.status_code == 503 and resp.json()["status"] == "not ready"


def test_metrics_are_prometheus_text(live_app, make_config):
    app = live_app(make_config())
    app.post_generic({"event_id": "m1", "chat_id": "c", "user_id": "u", "text": "/help"})
    text = app.get("/metrics").text
    assert '# TYPE smartbot_webhook_requests_total counter' in text
    assert 'smartbot_webhook_requests_total{channel="generic",outcome="accepted"}' in text
    assert "smartbot_inbox_queued" in text and "smartbot_webhook_seconds_bucket" in text


def test_unknown_paths_and_methods_get_json_errors(live_app, make_config):
    app = live_app(make_config())
    missing = app.get("/nope")
    assert missing.status_code == 404 and "error" in missing.json()
