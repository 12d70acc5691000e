"""Model routing end to end: a signed webhook in, the route's provider called over HTTP, the reply
out. [[model_routes]] from the config pick providers by keywords, command, chat, length and regex;
each route has its own fallback chain, system prompt and optional answer cache."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa

from smartbot.settings.loading import load
from smartbot.errors import ConfigError
from tests.support.chat import audit_rows, say
from tests.support.fake_anthropic import FakeAnthropic
from tests.support.fake_ollama import FakeOllama
from tests.support.prometheus import families, samples

CLAUDE_KEY = "sk-ant-routing-test"


@pytest.fixture
def claude(monkeypatch):
    monkeypatch.setenv("FAKE_CLAUDE_KEY", CLAUDE_KEY)
    server = FakeAnthropic(api_key=CLAUDE_KEY).start()
    yield server
    server.stop()


@pytest.fixture
def local():
    server = FakeOllama().start()
    yield server
    server.stop()


def _config(make_config, fake_model, claude, local, routes, **overrides):
    config = make_config(model=fake_model, **overrides)
    config["providers"] += [
        {"name": "claude", "kind": "anthropic", "base_url": claude.base_url, "model": "claude-x",
         "api_key_env": "FAKE_CLAUDE_KEY", "max_retries": 0, "read_timeout": 3.0},
        {"name": "local", "kind": "ollama", "base_url": local.base_url, "model": "llama-fake", "max_retries": 0}]
    config["models"] = {"default": "main", "health_interval": 0}
    config["model_routes"] = routes
    return config


ROUTES = [
    {"name": "faq", "provider": "claude", "match": {"keywords": ["price", "refund"]}, "position": 10},
    {"name": "local-command", "provider": "local", "match": {"command": "local"}, "position": 20},
    {"name": "vip-chat", "provider": "local", "match": {"chat_id": "vip"}, "position": 30},
    {"name": "long", "provider": "claude", "match": {"min_length": 200}, "position": 40},
    {"name": "translate", "provider": "claude", "match": {"regex": r"^translate\b"}, "position": 50},
]


def test_routes_pick_the_model_from_the_context(live_app, make_config, fake_model, claude, local, fake_platform):
    app = live_app(_config(make_config, fake_model, claude, local, ROUTES))
    # /words are catalogue commands by default; a rule before them sends /local to the chat action
    from smartbot.manage import rules
    rules.create_rule(app.runtime.db, "test", {"name": "local-chat", "position": 940, "match": {"command": "local"},
                                               "action": "chat"})
    app.runtime.router.invalidate()
    cases = [("what is the PRICE of gold?", {}, claude), ("/local tell me", {}, local),
             ("hello there", {"chat": "vip"}, local), ("x" * 250, {}, claude),
             ("Translate this please", {}, claude), ("just chatting", {}, fake_model)]
    for i, (text, extra, expected) in enumerate(cases):
        counts = [s.calls() for s in (fake_model, claude, local)]
        assert say(app, fake_platform, text, f"e{i}", **extra).startswith("echo:")
        after = [s.calls() for s in (fake_model, claude, local)]
        called = [s for s, a, b in zip((fake_model, claude, local), counts, after) if b > a]
        assert called == [expected], text
    handled = [json.loads(r.details)["provider"] for r in audit_rows(app, "message.handled")]
    assert handled == ["claude", "local", "local", "claude", "claude", "main"]


def test_a_role_route_serves_only_that_role(live_app, make_config, fake_model, claude, local, fake_platform):
    routes = [{"name": "operators", "provider": "claude", "match": {"role": ["operator", "admin"]}}]
    app = live_app(_config(make_config, fake_model, claude, local, routes))
    say(app, fake_platform, "I am a guest", "e1")
    assert fake_model.calls() == 1 and claude.calls() == 0
    with app.runtime.db.write() as conn:                # an admin binds this sender to an operator
        user_id = conn.execute(sa.text("INSERT INTO users (name, display_name, is_active, locale, created_at, "
                                       "updated_at) VALUES ('olga', '', :yes, '', 0, 0) RETURNING id"),
                               {"yes": True}).scalar()
        conn.execute(sa.text("INSERT INTO user_roles (user_id, role_id) SELECT :user, id FROM roles "
                             "WHERE name = 'operator'"), {"user": user_id})
        conn.execute(sa.text("UPDATE identities SET user_id = :user WHERE platform_user_id = 'u-1'"),
                     {"user": user_id})
    say(app, fake_platform, "now an operator", "e2")
    assert claude.calls() == 1 and fake_model.calls() == 1


def test_a_route_has_its_own_system_prompt_and_fallback_chain(live_app, make_config, fake_model, claude, local,
                                                              fake_platform):
    routes = [{"name": "sales", "provider": "claude", "fallback": ["local"], "match": {"keywords": ["buy"]},
               "system_prompt": "You are {bot_name} in sales. Reply in {language}."}]
    app = live_app(_config(make_config, fake_model, claude, local, routes, bot_name="Robo"))
    assert say(app, fake_platform, "I want to buy", "e1", locale="zh-CN") == "echo: I want to buy"
    assert claude.requests[-1]["json"]["system"] == "You are Robo in sales. Reply in 简体中文."
    claude.down = True
    assert say(app, fake_platform, "buy more", "e2") == "echo: buy more"
    assert local.calls() == 1 and fake_model.calls() == 0
    assert local.requests[-1]["json"]["messages"][0]["content"] == "You are Robo in sales. Reply in English."


def test_a_cached_faq_route_answers_a_repeated_question_without_a_call(live_app, make_config, fake_model, claude,
                                                                       local, fake_platform):
    routes = [{"name": "faq", "provider": "claude", "match": {"keywords": ["opening hours"]}, "cache_ttl": 600}]
    app = live_app(_config(make_config, fake_model, claude, local, routes))
    first = say(app, fake_platform, "What are your opening hours?", "e1", user="u-1")
    say(app, fake_platform, "thanks", "e2", user="u-2")
    second = say(app, fake_platform, "What are your opening hours?", "e3", user="u-2")
    assert first == second and claude.calls() == 1
    assert [m["role"] for m in claude.requests[0]["json"]["messages"]] == ["user"], "no history on an FAQ route"
    handled = json.loads(audit_rows(app, "message.handled")[-1].details)
    assert handled["provider"] == "claude" and handled["tokens"] == 0


def test_when_every_model_is_down_the_user_hears_it_clearly(live_app, make_config, fake_model, claude, local,
                                                           fake_platform):
    config = _config(make_config, fake_model, claude, local, [], default_locale="zh-CN")
    config["models"].update(fallback=["claude"], breaker_failures=1)
    config["providers"][0]["max_retries"] = 0
    app = live_app(config)
    fake_model.down = claude.down = True
    assert "都无法应答" in say(app, fake_platform, "hello", "e1")
    assert "None of the models" in say(app, fake_platform, "hello", "e2", locale="en")
    assert fake_model.calls() == 1 and claude.calls() == 1, "open circuits are not called again"
    assert {r.target for r in audit_rows(app, "provider.down")} == {"main", "claude"}
    circuits = samples(families(app.get("/metrics").text), "smartbot_provider_circuit")
    assert sorted(s.labels["provider"] for s in circuits if s.labels["state"] == "open" and s.value) == \
        ["claude", "main"]
    error = json.loads(audit_rows(app, "model.error")[0].details)
    assert [t["provider"] for t in error["tried"]] == ["main", "claude"]


@pytest.mark.parametrize("route, key", [
    ({"name": "r", "provider": "main", "match": {"colour": "red"}}, "model_routes[0].match"),
    ({"name": "r", "provider": "nobody"}, "model_routes[0].provider"),
    ({"name": "r", "provider": "main", "fallback": ["ghost"]}, "model_routes[0].fallback"),
    ({"name": "r", "provider": "main", "match": {"keywords": "price"}}, "model_routes[0].match"),
    ({"name": "r", "provider": "main", "cache_ttl": -1}, "model_routes[0].cache_ttl"),
])
def test_a_wrong_model_route_stops_start_up_naming_the_key(route, key):
    config = {"providers": [{"name": "main", "base_url": "http://127.0.0.1:9/v1", "model": "m"}],
              "model_routes": [route]}
    with pytest.raises(ConfigError) as err:
        load(config, env={"SMARTBOT_SECRET_KEY": "k" * 40})
    assert err.value.key == key


def test_routes_from_the_file_are_provisioned_once_and_removed_with_the_file(live_app, make_config, fake_model,
                                                                            claude, local):
    app = live_app(_config(make_config, fake_model, claude, local, ROUTES[:2]))
    with app.runtime.db.read() as conn:
        names = [r.name for r in conn.exec_driver_sql("SELECT name, source FROM model_routes WHERE source = 'config'")]
    assert sorted(names) == ["faq", "local-command"]
    from smartbot.settings.provisioning import provision

    settings = load(_config(make_config, fake_model, claude, local, ROUTES[:1]))
    assert provision(app.runtime.db, settings) == ["model route local-command removed (no longer in the file)"]
    assert provision(app.runtime.db, settings) == []
