"""Per-chat profiles, end to end: made through the admin API, chosen for a chat (the most specific
wins, then priority), and applied on the way to the fake model: persona, language, model route,
tools, quotas; /profile in chat; and what a delegated admin may not do with them."""
from __future__ import annotations

import pytest

from tests.support.admin_api import AdminApi
from tests.support.api_client import ADMIN_PASSWORD, login
from tests.support.executor import Chat, add_role, audit_rows, bind, details, set_rule_params
from tests.support.fake_model import FakeModel


@pytest.fixture
def alt_model():
    server = FakeModel().start()
    yield server
    server.stop()


@pytest.fixture
def setup(live_app, make_config, fake_model, fake_platform, alt_model):
    config = make_config(model=fake_model)
    config["providers"].append({"name": "alt", "kind": "openai", "base_url": alt_model.base_url, "model": "alt-1",
                                "read_timeout": 5.0, "total_timeout": 8.0, "max_retries": 1})
    config["models"] = {"default": "main"}
    app = live_app(config)
    return app, AdminApi(app), Chat(app, fake_platform)


def system_prompt(model: FakeModel) -> str:
    return model.requests[-1]["json"]["messages"][0]["content"]


def test_the_most_specific_profile_wins_then_the_higher_priority(setup, fake_model):
    app, api, chat = setup
    for body in ({"name": "everyone", "system_prompt": "You are the general desk."},
                 {"name": "generic-low", "match": {"channel": "generic"}, "system_prompt": "Low desk.", "priority": 1},
                 {"name": "generic-high", "match": {"channel": "generic"}, "system_prompt": "High desk.", "priority": 9},
                 {"name": "vip", "match": {"chat_id": "vip-room"}, "system_prompt": "You are the VIP concierge."},
                 {"name": "groups", "match": {"chat_type": "group"}, "system_prompt": "Group desk.", "priority": 99}):
        assert api.post("/profiles", body).status_code == 201, body
    assert chat.say("hello", chat="vip-room") == "echo: hello"
    assert system_prompt(fake_model) == "You are the VIP concierge."
    chat.say("hello", chat="lobby")
    assert system_prompt(fake_model) == "High desk."         # a channel says more than a chat type
    listed = [p["name"] for p in api.get("/profiles").json()["items"]]
    assert listed == ["vip", "generic-high", "generic-low", "groups", "everyone"]
    assert api.patch("/profiles/generic-high", {"enabled": False}).status_code == 200
    chat.say("again", chat="lobby")
    assert system_prompt(fake_model) == "Low desk."
    assert [r.action for r in audit_rows(app.runtime.db, "profile.created")] == ["profile.created"] * 5
    assert details(audit_rows(app.runtime.db, "profile.updated")[0])["after"]["enabled"] is False


def test_language_and_persona_placeholders(setup, fake_model):
    app, api, chat = setup
    api.post("/profiles", {"name": "cn", "match": {"chat_id": "cn-room"}, "locale": "zh-CN",
                           "system_prompt": "You are {bot_name}'s shop assistant. Answer in {language}."})
    chat.say("你好", chat="cn-room")
    assert system_prompt(fake_model) == "You are SmartBot's shop assistant. Answer in 简体中文."
    assert "清除我们之前的对话" in chat.say("/help", chat="cn-room")       # the bot's own texts too
    assert "forget our conversation" in chat.say("/help", chat="elsewhere")


def test_a_profile_picks_its_model_route(setup, fake_model, alt_model):
    app, api, chat = setup
    assert api.post("/model-routes", {"name": "alt-route", "provider": "alt",
                                      "match": {"chat_id": "nowhere"}}).status_code == 201
    api.post("/profiles", {"name": "alt-chat", "match": {"chat_id": "alt-room"}, "model_route": "alt-route"})
    chat.say("which model?", chat="alt-room")
    assert alt_model.calls() == 1 and fake_model.calls() == 0
    chat.say("which model?", chat="main-room")
    assert alt_model.calls() == 1 and fake_model.calls() == 1


def test_tools_off_in_a_profile_and_on_only_offers_what_the_sender_may_run(setup, fake_model):
    app, api, chat = setup
    bind(app.runtime.db, "op", "olga", ["operator"])
    set_rule_params(app.runtime.db, "chat", {"tools": True})
    chat.say("what is the load?", user="op", chat="ops-room")
    assert fake_model.requests[-1]["json"].get("tools")                 # the rule offers tools
    api.post("/profiles", {"name": "no-tools", "match": {"chat_id": "ops-room"}, "tools": False})
    chat.say("what is the load?", user="op", chat="ops-room")
    assert not fake_model.requests[-1]["json"].get("tools")
    set_rule_params(app.runtime.db, "chat", {})
    api.post("/profiles", {"name": "tools-on", "match": {"chat_id": "shop"}, "tools": True})
    chat.say("what is the load?", user="op", chat="shop")
    assert {t["function"]["name"] for t in fake_model.requests[-1]["json"]["tools"]} >= {"load", "disk"}
    chat.say("run a restart for me", user="guest-1", chat="shop")     # a guest may run nothing: no tools
    assert not fake_model.requests[-1]["json"].get("tools")


def test_profile_quotas_only_lower_the_servers(setup, fake_model):
    app, api, chat = setup
    api.post("/profiles", {"name": "slow", "match": {"chat_id": "slow-room"}, "messages_per_minute": 1,
                           "tokens_per_day": 1000000})
    assert chat.say("one", chat="slow-room") == "echo: one"
    assert "1" in chat.say("two", chat="slow-room") and fake_model.calls() == 1
    assert audit_rows(app.runtime.db, "model.rate_limited")
    assert chat.say("three", chat="fast-room") == "echo: three"


def test_profile_builtin_shows_the_profile_in_force_but_not_its_persona(setup):
    app, api, chat = setup
    assert "No profile applies" in chat.say("/profile", chat="plain")
    api.post("/profiles", {"name": "shop-front", "match": {"chat_id": "front"}, "system_prompt": "SECRET RECIPE",
                           "knowledge": ["faq", "manuals"], "tools": False, "messages_per_minute": 5})
    shown = chat.say("/profile", chat="front")
    assert "shop-front" in shown and "faq, manuals" in shown and "5 messages a minute" in shown
    assert "off" in shown and "SECRET RECIPE" not in shown


@pytest.mark.parametrize("body,field", [
    ({"name": "x", "match": {"role": "admin"}}, "match.role"),
    ({"name": "x", "match": {"chat_type": "channel"}}, "match.chat_type"),
    ({"name": "x", "locale": "fr"}, "locale"),
    ({"name": "x", "tools": "yes"}, "tools"),
    ({"name": "x", "messages_per_minute": -1}, "messages_per_minute"),
    ({"name": "x", "tokens_per_day": 1.5}, "tokens_per_day"),
    ({"name": "x", "knowledge": ["ok", "../etc"]}, "knowledge[1]"),
    ({"name": "../x"}, "name"),
    ({"name": "x", "system_prompt": "p" * 4001}, "system_prompt"),
    ({"name": "x", "model_route": "no-such-route"}, "model_route"),
    ({"name": "x", "colour": "red"}, "colour"),
])
def test_bad_fields_are_refused_with_the_field_named(setup, body, field):
    app, api, chat = setup
    resp = api.post("/profiles", body)
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field and resp.json()["error"]
    assert api.get("/profiles").json()["items"] == []


def test_a_delegated_admin_cannot_route_chats_to_a_provider_nor_touch_profiles_without_the_right(setup):
    app, api, chat = setup
    api.post("/model-routes", {"name": "alt-route", "provider": "alt", "match": {"chat_id": "nowhere"}})
    api.post("/roles", {"name": "profile-editor", "permissions": ["admin:login", "admin:profiles"]})
    api.post("/roles", {"name": "viewer", "permissions": ["admin:login"]})
    api.post("/users", {"name": "pam", "roles": ["profile-editor"], "password": ADMIN_PASSWORD})
    api.post("/users", {"name": "vic", "roles": ["viewer"], "password": ADMIN_PASSWORD})
    pam, vic = login(app.url, "pam"), login(app.url, "vic")
    assert pam.post("/profiles", {"name": "shop", "system_prompt": "Be kind.", "tools": True}).status_code == 201
    refused = pam.post("/profiles", {"name": "sneaky", "model_route": "alt-route"})
    assert refused.status_code == 403 and "admin:providers" in refused.json()["error"]
    assert pam.patch("/profiles/shop", {"model_route": "alt-route"}).status_code == 403
    denied = audit_rows(app.runtime.db, "delegation.denied")
    assert len(denied) == 2 and details(denied[0])["permission"] == "admin:providers"
    assert api.get("/profiles/shop").json()["model_route"] == ""
    assert api.patch("/profiles/shop", {"model_route": "alt-route"}).status_code == 200   # the full admin may
    assert vic.get("/profiles").status_code == 403 and vic.post("/profiles", {"name": "v"}).status_code == 403
    assert audit_rows(app.runtime.db, "api.denied")
    assert api.get("/profiles/missing").status_code == 404 and api.delete("/profiles/missing").status_code == 404


def test_a_profiles_knowledge_spaces_answer_its_chats_and_need_admin_knowledge(setup, fake_model):
    from tests.support.knowledge_files import wait_indexed

    app, api, chat = setup
    assert api.post("/knowledge/spaces", {"name": "teas"}).status_code == 201
    assert api.post("/knowledge/spaces/teas/documents",
                    {"title": "Oolong", "text": "# Oolong\n\nOur oolong is steeped at 90 degrees for three minutes."}
                    ).status_code == 202
    assert wait_indexed(api, "teas", "Oolong")["status"] == "ready"
    assert api.post("/profiles", {"name": "shop", "match": {"chat_id": "shop"}, "knowledge": ["teas"]}).status_code == 201
    chat.say("How long is oolong steeped?", chat="shop")
    assert "[1] Oolong" in system_prompt(fake_model) and "90 degrees" in system_prompt(fake_model)
    chat.say("How long is oolong steeped?", chat="elsewhere")      # no profile there: the rule names no space
    assert "90 degrees" not in system_prompt(fake_model)

    api.post("/roles", {"name": "profile-editor", "permissions": ["admin:login", "admin:profiles"]})
    api.post("/users", {"name": "pam", "roles": ["profile-editor"], "password": ADMIN_PASSWORD})
    pam = login(app.url, "pam")
    refused = pam.post("/profiles", {"name": "sneaky", "knowledge": ["teas"]})
    assert refused.status_code == 403 and "admin:knowledge" in refused.json()["error"]
    assert pam.patch("/profiles/shop", {"knowledge": ["teas", "more"]}).status_code == 403
    assert pam.post("/profiles", {"name": "plain", "system_prompt": "Hi."}).status_code == 201
    denied = audit_rows(app.runtime.db, "delegation.denied")
    assert len(denied) == 2 and details(denied[0])["permission"] == "admin:knowledge"
