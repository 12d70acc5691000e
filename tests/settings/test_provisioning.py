"""What smartbot.toml declares is in the database after start, read-only, and follows the file."""
from __future__ import annotations

from smartbot.settings.loading import load
from smartbot.settings.provisioning import provision
from tests.support.api_client import admin_api


def test_rules_and_roles_from_the_file_route_and_are_read_only(live_app, make_config, fake_platform):
    config = make_config(rules=[{"name": "hours", "position": 5, "match": {"prefix": "opening hours"},
                                 "action": "builtin", "params": {"name": "help"}}],
                         roles=[{"name": "support", "permissions": ["chat", "command:run:uptime"],
                                 "chat_scope": ["generic:desk"]}])
    app = live_app(config)
    assert app.post_generic({"event_id": "h1", "chat_id": "c", "user_id": "u", "text": "opening hours?"}).ok
    assert "/whoami" in fake_platform.wait_for(1)[0]["json"]["text"]          # the file's rule answered
    api = admin_api(app)
    rules = {r["name"]: r for r in api.get("/rules").json()["rules"]}
    assert rules["hours"]["source"] == "config"
    assert api.patch(f"/rules/{rules['hours']['id']}", {"position": 6}).status_code == 409
    role = api.get("/roles/support").json()
    assert role["chat_scope"] == ["generic:desk"] and role["source"] == "config"
    assert api.patch("/roles/support", {"permissions": ["chat"]}).status_code == 409
    assert api.delete("/roles/support").status_code == 409


def test_the_file_is_followed_at_the_next_start(db):
    def settings(**extra):
        return load({"database_url": db.url, **extra}, env={"SMARTBOT_SECRET_KEY": "k" * 40})

    first = provision(db, settings(rules=[{"name": "a", "action": "ignore", "match": {"prefix": "x"}}]))
    assert "rule a added" in first
    assert provision(db, settings(rules=[{"name": "a", "action": "ignore", "match": {"prefix": "x"}}])) == []
    changed = provision(db, settings(rules=[{"name": "a", "action": "ignore", "match": {"prefix": "y"}}]))
    assert "rule a updated" in changed
    assert "rule a removed (no longer in the file)" in provision(db, settings())


def test_a_file_providers_key_is_confirmed_for_its_own_base_url(db):
    import sqlalchemy as sa

    def start(base_url):
        provider = {"name": "main", "base_url": base_url, "model": "m", "api_key_env": "MAIN_KEY"}
        return provision(db, load({"database_url": db.url, "providers": [provider]},
                                  env={"SMARTBOT_SECRET_KEY": "k" * 40}))

    def key_origin():
        with db.read() as conn:
            return conn.execute(sa.text("SELECT key_origin FROM providers WHERE name = 'main'")).scalar()

    start("https://api.example.com/v1")
    assert key_origin() == "https://api.example.com:443"
    assert start("https://api.example.com/v1") == []
    assert "provider main updated" in start("http://10.0.0.7:8000/v1")
    assert key_origin() == "http://10.0.0.7:8000"
