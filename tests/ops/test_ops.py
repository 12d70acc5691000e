"""/healthz, /readyz and /metrics, and the request hooks (request ids, per-route counts)."""
from __future__ import annotations

import time

import requests

from tests.support.outage import SwitchableModel
from tests.support.prometheus import families, samples


def test_healthz(live_app, make_config):
    app = live_app(make_config())
    resp = app.get("/healthz")
    assert resp.status_code == 200 and resp.json() == {"status": "ok"}


def test_readyz_reports_this_nodes_checks_and_not_the_models(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    resp = app.get("/readyz")
    assert resp.status_code == 200
    body = resp.json()
    assert body["status"] == "ready"
    checks = body["checks"]
    assert checks["database"]["ok"] and checks["workers"]["ok"] and checks["channels"]["ok"]
    assert checks["channels"]["generic"]["ok"] and checks["channels"]["generic"]["webhook"] is True
    assert checks["channels"]["webchat"]["ok"] and checks["channels"]["webchat"]["webhook"] is False
    assert "models" not in checks and "main" not in resp.text


def test_readyz_fails_when_workers_are_stopped(live_app, make_config):
    app = live_app(make_config())
    app.runtime.stop()
    resp = app.get("/readyz")
    assert resp.status_code == 503 and resp.json()["status"] == "not ready"


def test_readyz_stays_ready_while_the_model_is_down_and_metrics_say_it_is(live_app, make_config):
    model = SwitchableModel().start()
    try:
        model.down = True
        config = make_config(alerts={"probe_seconds": 60.0})
        config["providers"] = [{"name": "main", "kind": "openai", "base_url": model.base_url, "model": "m"}]
        app = live_app(config)
        time.sleep(0.5)             # the ops thread's first probe may still be on its way
        hits = model.hits
        for _ in range(5):
            assert app.get("/readyz").status_code == 200
        assert model.hits == hits, "a readiness check asked the model's server"
        up = samples(families(app.get("/metrics").text), "smartbot_provider_up")
        assert [(s.labels["provider"], s.value) for s in up] == [("main", 0.0)]
        model.down = False
        app.runtime.probe.refresh(force=True)
        fams = families(app.get("/metrics").text)
        assert [s.value for s in samples(fams, "smartbot_provider_up")] == [1.0]
        circuit = {s.labels["state"]: s.value for s in samples(fams, "smartbot_provider_circuit")}
        assert circuit == {"closed": 1.0, "half_open": 0.0, "open": 0.0}
    finally:
        model.stop()


def test_metrics_parse_and_cover_requests_queues_workers_and_channels(live_app, make_config, fake_model,
                                                                      fake_platform):
    app = live_app(make_config(model=fake_model))
    for i in range(3):
        assert app.post_generic({"event_id": f"m{i}", "chat_id": "c", "user_id": "u", "text": "hi"}).status_code == 200
    fake_platform.wait_for(3)
    time.sleep(0.2)
    fams = families(app.get("/metrics").text)
    accepted = [s for s in samples(fams, "smartbot_webhook_requests_total") if s.labels["outcome"] == "accepted"]
    assert accepted and accepted[0].labels["channel"] == "generic" and accepted[0].value == 3
    assert fams["smartbot_webhook_seconds"].type == "histogram"
    routes = {s.labels["route"] for s in samples(fams, "smartbot_http_requests_total")}
    assert "/webhooks/<channel>" in routes
    assert samples(fams, "smartbot_inbox_depth") and samples(fams, "smartbot_outbox_oldest_age_seconds")
    calls = samples(fams, "smartbot_model_calls_total")
    assert [(s.labels["provider"], s.labels["result"], s.value) for s in calls] == [("main", "ok", 3.0)]
    assert sum(s.value for s in samples(fams, "smartbot_model_tokens_total")) == 45
    assert samples(fams, "smartbot_model_call_seconds_count")[0].value == 3
    handled = samples(fams, "smartbot_messages_handled_total")
    assert sum(s.value for s in handled) == 3
    delivered = [s for s in samples(fams, "smartbot_replies_total") if s.labels["result"] == "delivered"]
    assert delivered[0].value == 3
    ages = {s.labels["channel"]: s.value for s in samples(fams, "smartbot_channel_last_received_age_seconds")}
    assert 0 <= ages["generic"] < 30
    assert "generic" in {s.labels["channel"] for s in samples(fams, "smartbot_channel_last_delivered_age_seconds")}
    assert samples(fams, "smartbot_process_cpu_seconds_total")[0].value > 0
    assert samples(fams, "smartbot_process_resident_memory_bytes")[0].value > 10_000_000
    assert samples(fams, "smartbot_worker_threads_max")[0].value == 16


def test_request_id_is_echoed_or_made(live_app, make_config):
    app = live_app(make_config())
    given = app.get("/healthz", headers={"X-Request-ID": "abc-123"})
    assert given.headers["X-Request-ID"] == "abc-123"
    made = app.get("/healthz", headers={"X-Request-ID": "bad id <with> spaces"})
    assert made.headers["X-Request-ID"] != "bad id <with> spaces" and len(made.headers["X-Request-ID"]) == 32


def test_unknown_paths_and_methods_get_json_errors(live_app, make_config):
    app = live_app(make_config())
    missing = app.get("/nope")
    assert missing.status_code == 404 and "error" in missing.json()
    wrong = requests.delete(app.url + "/healthz", timeout=5)
    assert wrong.status_code == 405 and "error" in wrong.json()


def _refusal_actor(app) -> str:
    import sqlalchemy as sa

    with app.runtime.db.read() as conn:
        return conn.execute(sa.text("SELECT actor FROM audit_log WHERE action = 'webhook.refused' "
                                    "ORDER BY seq DESC LIMIT 1")).scalar()


def test_client_address_is_taken_from_the_proxy_only_when_trusted(live_app, make_config):
    forged = {"X-Forwarded-For": "203.0.113.9"}
    direct = live_app(make_config())
    direct.post_generic({"event_id": "x"}, secret="wrong-secret-0123456789", headers=forged)
    assert _refusal_actor(direct) == "127.0.0.1"        # nobody is trusted: the header is ignored
    behind = live_app(make_config(security={"trusted_proxies": 1}))
    behind.post_generic({"event_id": "x"}, secret="wrong-secret-0123456789", headers=forged)
    assert _refusal_actor(behind) == "203.0.113.9"      # the proxy's word for the client address


def test_channel_ages_cover_quiet_channels_beyond_the_recent_rows(db):
    import sqlalchemy as sa

    from smartbot.ops import cluster

    now = time.time()
    rows = [{"channel": "quiet", "e": "q0", "t": now - 3600}]
    rows += [{"channel": "busy", "e": f"b{i}", "t": now - 10} for i in range(cluster.RECENT_ROWS + 5)]
    with db.write() as conn:
        conn.execute(sa.text("INSERT INTO inbox (channel, event_id, order_key, payload, status, lease_until, "
                             "attempts, next_attempt_at, created_at, last_error) VALUES (:channel, :e, 'k', '{}', "
                             "'done', 0, 1, 0, :t, '')"), rows)
    view = cluster.read(db, ["quiet", "busy", "silent"])
    assert 3590 < view.received_age["quiet"] < 3700
    assert view.received_age["busy"] < 60
    assert "silent" not in view.received_age            # never received anything: no age, not zero
