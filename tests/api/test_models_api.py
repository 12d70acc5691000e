"""The model admin API over real HTTP with an admin JWT: providers, switching the active chain,
model routes and usage; each change audited with before/after and live on the next message."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from tests.support.admin_api import AdminApi
from tests.support.chat import audit_rows, say
from tests.support.fake_anthropic import FakeAnthropic


@pytest.fixture
def claude(monkeypatch):
    monkeypatch.setenv("CLAUDE_TEST_API_KEY", "sk-ant-api-test-77")
    server = FakeAnthropic(api_key="sk-ant-api-test-77").start()
    yield server
    server.stop()


def _claude_body(claude, **extra):
    return {"name": "claude", "kind": "anthropic", "base_url": claude.base_url, "model": "claude-x",
            "api_key_env": "CLAUDE_TEST_API_KEY", "max_retries": 0, **extra}


def test_switching_the_provider_takes_effect_on_the_next_message(live_app, make_config, fake_model, claude,
                                                                 fake_platform):
    app = live_app(make_config(model=fake_model))
    api = AdminApi(app)
    assert say(app, fake_platform, "before", "e1") == "echo: before" and fake_model.calls() == 1
    created = api.post("/providers", _claude_body(claude))
    assert created.status_code == 201, created.text
    switched = api.put("/models/active", {"default": "claude", "fallback": ["main"]})
    assert switched.status_code == 200 and switched.json()["chain"] == ["claude", "main"]
    assert say(app, fake_platform, "after", "e2") == "echo: after"
    assert claude.calls() == 1 and fake_model.calls() == 1
    assert json.loads(audit_rows(app, "message.handled")[-1].details)["provider"] == "claude"
    change = audit_rows(app, "models.switched")[0]
    assert change.actor == "admin:root"
    assert json.loads(change.details) == {"before": {"default": "main", "fallback": []},
                                          "after": {"default": "claude", "fallback": ["main"]}}


def test_api_keys_are_never_accepted_stored_or_shown(live_app, make_config, fake_model, claude):
    app = live_app(make_config(model=fake_model))
    api = AdminApi(app)
    assert api.post("/providers", _claude_body(claude)).status_code == 201
    shown = api.get("/providers/claude").json()
    assert shown["api_key_env"] == "CLAUDE_TEST_API_KEY" and shown["api_key_set"] is True
    everything = json.dumps(api.get("/providers").json())
    with app.runtime.db.read() as conn:
        stored = json.dumps([list(r) for r in conn.execute(sa.text("SELECT * FROM providers"))])
        audited = json.dumps([list(r) for r in conn.execute(sa.text("SELECT details FROM audit_log"))])
    for text in (everything, stored, audited):
        assert "sk-ant-api-test-77" not in text
    refused = api.post("/providers", {**_claude_body(claude, name="c2"), "api_key": "sk-live-123"})
    assert refused.status_code == 422 and refused.json()["field"] == "api_key"
    header = api.post("/providers", _claude_body(claude, name="c3", headers={"Authorization": "Bearer sk-1"}))
    assert header.status_code == 422 and header.json()["field"] == "headers.Authorization"
    own_secret = api.post("/providers", _claude_body(claude, name="c4", api_key_env="SMARTBOT_SECRET_KEY"))
    assert own_secret.status_code == 422 and own_secret.json()["field"] == "api_key_env"


def test_provider_changes_are_validated_audited_and_config_rows_are_read_only(live_app, make_config, fake_model,
                                                                              claude):
    app = live_app(make_config(model=fake_model))
    api = AdminApi(app)
    bad_url = api.post("/providers", _claude_body(claude, base_url="ftp://x"))
    assert bad_url.status_code == 422 and bad_url.json()["field"] == "base_url"
    bad_kind = api.post("/providers", _claude_body(claude, kind="bard"))
    assert bad_kind.status_code == 422 and bad_kind.json()["field"] == "kind"
    assert api.post("/providers", _claude_body(claude)).status_code == 201
    assert api.post("/providers", _claude_body(claude)).status_code == 409
    changed = api.patch("/providers/claude", {"model": "claude-y", "read_timeout": 9.5})
    assert changed.status_code == 200 and changed.json()["model"] == "claude-y"
    update = json.loads(audit_rows(app, "provider.updated")[0].details)
    assert (update["before"]["model"], update["after"]["model"]) == ("claude-x", "claude-y")
    assert update["after"]["read_timeout"] == 9.5
    main = api.patch("/providers/main", {"model": "other"})
    assert main.status_code == 409 and "smartbot.toml" in main.json()["error"]
    assert api.get("/providers/ghost").status_code == 404
    assert api.put("/models/active", {"default": "ghost"}).json()["field"] == "default"
    api.put("/models/active", {"default": "claude"})
    in_use = api.delete("/providers/claude")
    assert in_use.status_code == 409 and "active chain" in in_use.json()["error"]
    api.put("/models/active", {"default": "main"})
    assert api.delete("/providers/claude").status_code == 200
    assert json.loads(audit_rows(app, "provider.deleted")[0].details)["after"] is None


def test_testing_a_provider_makes_one_real_call_and_says_what_is_wrong(live_app, make_config, fake_model, claude,
                                                                      monkeypatch):
    app = live_app(make_config(model=fake_model))
    api = AdminApi(app)
    api.post("/providers", _claude_body(claude))
    ok = api.post("/providers/claude/test").json()
    assert ok["ok"] is True and ok["model"] == "claude-x" and claude.calls() == 1
    assert claude.requests[-1]["json"]["max_tokens"] == 1
    monkeypatch.setenv("CLAUDE_TEST_API_KEY", "sk-wrong")
    api.patch("/providers/claude", {"read_timeout": 4.0})           # a new spec: the client is rebuilt
    wrong = api.post("/providers/claude/test").json()
    assert wrong == {"ok": False, "provider": "claude", "kind": "auth", "reason": "the key was refused (answered 401)"}
    monkeypatch.delenv("CLAUDE_TEST_API_KEY")
    missing = api.post("/providers/claude/test").json()
    assert missing["ok"] is False and "CLAUDE_TEST_API_KEY is not set" in missing["reason"]


def test_model_routes_are_managed_through_the_api_and_apply_at_once(live_app, make_config, fake_model, claude,
                                                                    fake_platform):
    app = live_app(make_config(model=fake_model))
    api = AdminApi(app)
    api.post("/providers", _claude_body(claude))
    bad = api.post("/model-routes", {"name": "r1", "provider": "claude", "match": {"regex": "("}})
    assert bad.status_code == 422 and bad.json()["field"] == "match"
    unknown = api.post("/model-routes", {"name": "r1", "provider": "claude", "fallback": ["ghost"]})
    assert unknown.status_code == 422 and unknown.json()["field"] == "fallback[0]"
    made = api.post("/model-routes", {"name": "refunds", "provider": "claude", "match": {"keywords": ["refund"]}})
    assert made.status_code == 201
    assert say(app, fake_platform, "I want a refund", "e1") == "echo: I want a refund" and claude.calls() == 1
    assert api.patch("/model-routes/refunds", {"enabled": False}).status_code == 200
    say(app, fake_platform, "another refund", "e2")
    assert claude.calls() == 1 and fake_model.calls() == 1
    assert [r["name"] for r in api.get("/model-routes").json()["items"]] == ["refunds"]
    in_use = api.delete("/providers/claude")
    assert in_use.status_code == 409 and "refunds" in in_use.json()["error"]
    assert api.delete("/model-routes/refunds").status_code == 200
    assert [r.action for r in audit_rows(app, "model_route.created")] == ["model_route.created"]
    assert len(audit_rows(app, "model_route.updated")) == 1 and len(audit_rows(app, "model_route.deleted")) == 1


def test_usage_per_user_provider_and_day(live_app, make_config, fake_model, fake_platform):
    app = live_app(make_config(model=fake_model))
    api = AdminApi(app)
    say(app, fake_platform, "hi", "e1")
    say(app, fake_platform, "hi", "e2", user="u-2")
    report = api.get("/usage").json()
    assert report["totals"]["tokens"] == 30 and report["totals"]["calls"] == 2
    assert {i["user"] for i in report["items"]} == {"generic:u-1", "generic:u-2"}
    only = api.get("/usage", params={"user": "generic:u-2", "provider": "main"}).json()
    assert [i["tokens"] for i in only["items"]] == [15]
    assert api.get("/usage", params={"day": "1999-01-01"}).json()["items"] == []
    wrong = api.get("/usage", params={"day": "yesterday"})
    assert wrong.status_code == 422 and wrong.json()["field"] == "day"
    backwards = api.get("/usage", params={"from": "2026-12-02", "to": "2026-12-01"})
    assert backwards.status_code == 422


def test_an_admin_without_the_permission_is_refused_and_audited(live_app, make_config, fake_model):
    app = live_app(make_config(model=fake_model))
    api = AdminApi(app)
    with app.runtime.db.write() as conn:
        conn.execute(sa.text("UPDATE roles SET permissions = '[\"admin:login\", \"admin:usage\"]' "
                             "WHERE name = 'admin'"))
    refused = api.put("/models/active", {"default": "main"})
    assert refused.status_code == 403 and "admin:providers" in refused.json()["error"]
    assert api.get("/usage").status_code == 200
    assert audit_rows(app, "api.denied")[-1].target == "admin:providers"
    assert audit_rows(app, "models.switched") == []


@pytest.mark.slow
def test_a_switch_applies_to_the_next_message_in_every_gunicorn_worker(gunicorn_app, make_config, fake_model,
                                                                      fake_platform):
    from smartbot.storage.db import Database
    from tests.support.fake_model import FakeModel

    backup = FakeModel().start()
    try:
        config = make_config(model=fake_model)
        config["providers"].append({"name": "backup", "base_url": backup.base_url, "model": "b-1"})
        app = gunicorn_app(config, workers=2)
        db = Database(config["database_url"])
        api = AdminApi(app, db=db)
        for i in range(6):                              # both workers have read the chain by now
            assert app.post_generic({"event_id": f"w{i}", "chat_id": f"c{i}", "user_id": "u", "text": "x"}) \
                .status_code == 200
        fake_platform.wait_for(6, timeout=15)
        assert api.put("/models/active", {"default": "backup"}).status_code == 200
        for i in range(10):
            app.post_generic({"event_id": f"s{i}", "chat_id": f"d{i}", "user_id": "u", "text": "y"})
        fake_platform.wait_for(16, timeout=15)
        assert fake_model.calls() == 6 and backup.calls() == 10, app.log()
        db.dispose()
    finally:
        backup.stop()
