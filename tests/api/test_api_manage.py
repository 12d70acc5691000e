"""The admin API's management endpoints: users, identities, roles, rules, audit, state."""
from __future__ import annotations

import csv
import io

import pytest

from tests.support.api_client import ADMIN_PASSWORD, Api, admin_api, login


def _say(app, platform, text: str, event_id: str, user: str = "u-1") -> str:
    before = len(platform.received)
    assert app.post_generic({"event_id": event_id, "chat_id": "c1", "user_id": user, "user_name": "Al",
                             "text": text}).status_code == 200
    got = platform.wait_for(before + 1, 10)
    return got[before]["json"]["text"]


@pytest.fixture
def app(live_app, make_config):
    return live_app(make_config())


def test_users_crud_and_safety_rails(app):
    api = admin_api(app)
    created = api.post("/users", {"name": "alice", "roles": ["operator"], "password": "alice's long pass"})
    assert created.status_code == 201 and created.json()["roles"] == ["operator"]
    uid = created.json()["id"]
    assert api.post("/users", {"name": "alice"}).status_code == 409
    weak = api.post("/users", {"name": "bob", "password": "123"})
    assert weak.status_code == 422 and weak.json()["field"] == "password"
    bad_role = api.patch(f"/users/{uid}", {"roles": ["wizard"]})
    assert bad_role.status_code == 422 and "wizard" in bad_role.json()["error"]
    assert api.patch(f"/users/{uid}", {"is_active": False}).json()["is_active"] is False
    assert api.get(f"/users/{uid}").json()["name"] == "alice"
    me = next(u for u in api.get("/users").json()["users"] if u["name"] == "root")
    assert api.delete(f"/users/{me['id']}").status_code == 409                # not yourself
    assert api.patch(f"/users/{me['id']}", {"roles": []}).status_code == 409   # not the last admin
    assert api.delete(f"/users/{uid}").status_code == 200
    assert api.get(f"/users/{uid}").status_code == 404


def test_binding_an_identity_gives_the_sender_the_users_roles(app, fake_platform):
    api = admin_api(app)
    assert _say(app, fake_platform, "/whoami", "w1") == \
        "Al (guest)\nNot bound to a user yet. To bind you, an admin needs this identity: generic:u-1"
    uid = api.post("/users", {"name": "alice", "roles": ["operator"]}).json()["id"]
    bound = api.post("/identities", {"channel": "generic", "platform_user_id": "u-1", "user_id": uid})
    assert bound.status_code == 201
    assert _say(app, fake_platform, "/whoami", "w2") == "alice (operator)"
    listed = api.get("/identities?channel=generic").json()["identities"]
    assert listed[0]["user_id"] == uid
    assert api.patch(f"/identities/{listed[0]['id']}", {"user_id": None}).json()["user_id"] is None
    assert _say(app, fake_platform, "/whoami", "w3").splitlines()[0] == "Al (guest)"
    assert api.post("/identities", {"channel": "generic", "platform_user_id": "x",
                                    "user_id": 999}).status_code == 422


def test_roles_templates_copy_validation(app):
    api = admin_api(app)
    names = {r["name"] for r in api.get("/roles").json()["roles"]}
    assert {"admin", "operator", "user", "guest"} <= names
    copy = api.post("/roles/operator/copy", {"name": "night-shift"})
    assert copy.status_code == 201 and "command:*" in copy.json()["permissions"]
    bad = api.patch("/roles/night-shift", {"permissions": ["chat", "launch:rockets"]})
    assert bad.status_code == 422 and bad.json()["field"] == "permissions[1]"
    scoped = api.patch("/roles/night-shift", {"chat_scope": ["slack:C1"]})
    assert scoped.json()["chat_scope"] == ["slack:C1"]
    assert api.delete("/roles/admin").status_code == 409
    assert api.delete("/roles/guest").status_code == 409          # the default role of strangers
    assert api.delete("/roles/night-shift").status_code == 200
    assert any(p["name"] == "chat" for p in api.get("/permissions").json()["permissions"])


def test_rule_change_takes_effect_without_restart_and_is_audited(app, fake_platform):
    api = admin_api(app)
    assert "No model" in _say(app, fake_platform, "who am i?", "r1")
    created = api.post("/rules", {"name": "whoami-words", "position": 5, "match": {"prefix": "who am i"},
                                  "action": "builtin", "params": {"name": "whoami"}})
    assert created.status_code == 201
    import time
    time.sleep(1.1)                                             # routers re-check their rules each second
    assert _say(app, fake_platform, "who am i?", "r2").splitlines()[0] == "Al (guest)"
    bad = api.post("/rules", {"name": "x", "action": "chat", "match": {"regex": "("}})
    assert bad.status_code == 422 and bad.json()["field"] == "match"
    assert api.post("/rules", {"name": "x", "action": "launch"}).status_code == 422
    events = api.get("/audit?action=rule.*").json()["events"]
    assert events[0]["action"] == "rule.create" and events[0]["details"]["after"]["name"] == "whoami-words"
    assert api.delete(f"/rules/{created.json()['id']}").status_code == 200


def test_audit_search_export_verify(app):
    api = admin_api(app)
    api.post("/users", {"name": "carol"})
    events = api.get("/audit?actor=admin:root").json()["events"]
    assert [e["action"] for e in events] == ["user.create", "admin.login"]     # one name for root, logins too
    assert api.get("/audit?since=abc").status_code == 400
    rows = list(csv.reader(io.StringIO(api.get("/audit/export.csv").text)))
    assert rows[0][:4] == ["seq", "ts", "actor", "action"] and len(rows) >= 3
    assert api.get("/audit/verify").json()["ok"] is True


def test_state_endpoints(app, fake_platform):
    api = admin_api(app)
    _say(app, fake_platform, "hello", "s1")
    assert api.get("/queues").json()["inbox"]["total"] == 1
    assert api.get("/inbox?status=done").json()["rows"][0]["key"] == "s1"
    assert api.get("/outbox").json()["rows"][0]["status"] in ("done", "leased")
    assert api.get("/metrics/summary").json()["messages_per_minute"] == 1
    assert api.get("/inbox?limit=0").status_code == 400
    assert api.get("/conversations").json()["conversations"] == []      # no model turns stored without a model


def _endpoints():
    from smartbot.api.blueprint import attach_resources
    from smartbot.api.registry import ENDPOINTS

    attach_resources()
    return [ep for ep in ENDPOINTS if ep.permission is not None]


@pytest.fixture(scope="module")
def auth_app(tmp_path_factory):
    """One app for every endpoint's auth check: what is checked (tokens, roles) is not per database,
    and a fresh app per endpoint made this the slowest part of the suite."""
    from tests.conftest import GENERIC_SECRET
    from tests.support.apps import LiveApp

    folder = tmp_path_factory.mktemp("auth")
    app = LiveApp({"database_url": f"sqlite:///{folder / 'smartbot.db'}",
                   "channels": {"generic": {"secret": GENERIC_SECRET, "callback_url": "http://127.0.0.1:9/hook"}},
                   "audit": {"refusal_audit_interval": 0.0}})
    admin = admin_api(app)
    admin.post("/users", {"name": "pat", "roles": ["user"], "password": ADMIN_PASSWORD + "!"})
    # "user" may not log in to the admin API at all; give a role that may log in but not this area
    admin.post("/roles", {"name": "viewer", "permissions": ["admin:login"]})
    uid = next(u["id"] for u in admin.get("/users").json()["users"] if u["name"] == "pat")
    admin.patch(f"/users/{uid}", {"roles": ["viewer"]})
    yield app
    app.stop()


@pytest.mark.parametrize("ep", _endpoints(), ids=lambda ep: f"{ep.method} {ep.rule}")
def test_every_endpoint_refuses_missing_tokens_and_wrong_roles(auth_app, ep):
    import re

    path = re.sub(r"<int:\w+>", "1", ep.rule)
    path = re.sub(r"<\w+>", "guest", path)
    anonymous = Api(auth_app.url).call(ep.method, path, json={})
    assert anonymous.status_code == 401, anonymous.text
    viewer = login(auth_app.url, "pat", ADMIN_PASSWORD + "!")   # a new token each time: logout revokes it
    resp = viewer.call(ep.method, path, json={})
    if ep.permission == "admin:login":
        assert resp.status_code != 403
    else:
        assert resp.status_code == 403 and ep.permission in resp.json()["error"]
