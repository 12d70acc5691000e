"""Refusals from the workflow loader, the provider key rules (llm/keys.py) and the router's rule
checks read in the admin page's language: in zh-CN with no English left, in English word for word
as before (and as the API still answers them)."""
from __future__ import annotations

import pytest
import requests

from smartbot.auth.accounts import create_admin
from smartbot.router.engine import ACTIONS
from smartbot.workflows import store
from tests.admin.test_admin_refusals_language import assert_refusals_read_in
from tests.support.admin_page import AdminPage

PASSWORD = "correct-horse-battery"
BAD_YAML = "name: broken\nsteps:\n  - {name: tell, kind: telegram}\n"
# (path, form, the English message as the page showed it before it could be translated)
REFUSALS = [
    ("/admin/workflows", {"yaml": BAD_YAML}, "steps[0].kind: must be one of command, model, message, http, condition, mcp"),
    ("/admin/workflows", {"yaml": "name: broken\nsteps: []\n"}, "steps: must be a non-empty list of steps"),
    ("/admin/providers", {"name": "leaky", "kind": "openai", "base_url": "https://me:pw@api.example.com/v1",
                          "model": "m-1", "enabled": "on"},
     "base_url: must not carry a user name or password (user@host): the key comes from api_key_env"),
    ("/admin/providers", {"name": "leaky", "kind": "openai", "base_url": "https://api.example.com/v1",
                          "model": "m-1", "api_key_env": "SMARTBOT_SECRET_KEY", "enabled": "on"},
     "api_key_env: SMARTBOT_SECRET_KEY belongs to SmartBot itself (its settings, signing key, database or a "
     "channel's secret) and is never sent to a provider; put the API key in a variable of its own"),
    ("/admin/rules", {"name": "odd", "position": "5", "action": "chat", "match": '{"colour": 1, "mentioned": "yes"}',
                      "params": ""},
     "match: unknown match key 'colour'; mentioned must be true or false"),
    ("/admin/commands", {"definition": '{"name": "greet", "argv": ["/bin/echo", "{who}"]}'},
     "argv[1]: {who} is not a declared parameter"),
    ("/admin/workflows/sleepy/run", {"args": "", "chat": ""}, "workflow 'sleepy' is disabled"),
    ("/admin/rules", {"name": "odd", "position": "5", "action": "dance", "match": "", "params": ""},
     f"action: action must be one of {', '.join(ACTIONS)}"),
]
DATA = {"greet", "bin", "echo", "who", "argv", "sleepy", "broken", "tell", "telegram", "leaky", "odd", "colour", "mentioned", "yes", "dance", "api", "example", "com",
        "https", "me", "pw", "kind", "steps", "match", "action", "base_url", "api_key_env", "SMARTBOT_SECRET_KEY",
        "api_key_env", "user", "host",
        "true", "false"}                                  # JSON values, typed as they are


@pytest.fixture
def site(live_app, make_config):
    app = live_app(make_config())
    create_admin(app.runtime.db, "root", PASSWORD)
    with app.runtime.db.write() as conn:
        store.save_workflow(conn, "sleepy", "", "name: sleepy\nsteps:\n  - {name: tell, kind: message, text: hi}\n",
                            False)
    return app


@pytest.mark.parametrize("lang", ["en", "zh-CN"])
def test_loader_key_and_rule_refusals_read_in_the_pages_language(site, lang):
    assert_refusals_read_in(AdminPage(site.url, "root", PASSWORD), REFUSALS, lang, DATA)


def test_the_api_still_answers_these_reasons_in_english(site):
    s = requests.Session()
    token = s.post(site.url + "/api/v1/auth/login", json={"name": "root", "password": PASSWORD},
                   timeout=10).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}", "Accept-Language": "zh-CN"}
    resp = s.post(site.url + "/api/v1/workflows", json={"yaml": BAD_YAML}, headers=headers, timeout=10)
    assert resp.status_code == 422, resp.text
    assert "must be one of command, model, message, http, condition" in resp.text
    resp = s.post(site.url + "/api/v1/providers", json={"name": "leaky", "kind": "openai", "model": "m-1",
                                                        "base_url": "https://me:pw@api.example.com/v1"},
                  headers=headers, timeout=10)
    assert resp.status_code == 422, resp.text
    assert "must not carry a user name or password (user@host): the key comes from api_key_env" in resp.text
    resp = s.post(site.url + "/api/v1/rules", json={"name": "odd", "action": "chat", "match": {"colour": 1}},
                  headers=headers, timeout=10)
    assert resp.status_code == 422, resp.text
    assert "unknown match key 'colour'" in resp.text
