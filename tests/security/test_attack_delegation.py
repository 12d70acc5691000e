"""Attacks on delegated admin rights: a holder of `admin:users` or `admin:roles` tries to become (or
make someone) more than it is, over the API under gunicorn and through the admin page's forms.

Each refusal is a 403 whose reason names the permission the caller lacks, leaves an audit row
`delegation.denied`, and changes nothing. Beside each attack, the legitimate use it must not break.
"""
from __future__ import annotations

import html
import re
import time

import pytest
import requests
import sqlalchemy as sa

from smartbot.storage.tables import Role

from tests.security.conftest import PASSWORD
from tests.support.admin_page import AdminPage

USERS_ADMIN = ["admin:login", "admin:users", "chat"]
ROLES_ADMIN = ["admin:login", "admin:roles", "chat"]


@pytest.fixture
def site(target):
    """The app with its real admin `root` (role admin: `*`), a users admin `ulysses`, a roles admin
    `ronda`, and `gus`, a guest bound to a chat identity."""
    t = target()
    t.root_id = t.add_user("root", ["admin"], identities=[("generic", "root-chat")])
    t.ulysses_id = t.add_user("ulysses", [], permissions=USERS_ADMIN)
    t.ronda_id = t.add_user("ronda", [], permissions=ROLES_ADMIN)
    t.gus_id = t.add_user("gus", ["guest"], password=None, identities=[("generic", "gus-chat")])
    return t


def _identity_id(t, session, platform_user_id: str) -> int:
    listed = session.get("/identities?channel=generic").json()["identities"]
    return next(i["id"] for i in listed if i["platform_user_id"] == platform_user_id)


def _refused(resp: requests.Response, lacking: str) -> str:
    assert resp.status_code == 403, resp.text
    reason = resp.json()["error"]
    assert repr(lacking) in reason, reason
    return reason


def _denied_rows(t, since: int, actor: str) -> list[dict]:
    return [r for r in t.audit("delegation.denied", since) if r["actor"] == f"admin:{actor}"]


# -- admin:users ----------------------------------------------------------------------------------
def test_users_admin_cannot_grant_itself_the_admin_role(site):
    t = site
    api, since = t.login("ulysses"), t.last_seq()
    resp = api.patch(f"/users/{t.ulysses_id}", {"roles": ["admin", "ulysses-role"]})
    reason = _refused(resp, "*")
    assert "admin" in reason
    assert t.roles_of("ulysses") == ["ulysses-role"]
    rows = _denied_rows(t, since, "ulysses")
    assert len(rows) == 1 and rows[0]["target"] == "user:ulysses" and rows[0]["result"] == "denied"
    assert rows[0]["details"]["permission"] == "*" and rows[0]["details"]["reason"] == reason


def test_users_admin_cannot_create_an_admin(site):
    t = site
    api, since = t.login("ulysses"), t.last_seq()
    _refused(api.post("/users", {"name": "mallory", "roles": ["admin"], "password": PASSWORD}), "*")
    assert api.get("/users").json()["users"] and "mallory" not in {u["name"] for u in api.get("/users").json()["users"]}
    assert len(_denied_rows(t, since, "ulysses")) == 1
    # an operator's commands are not the users admin's to hand out either
    _refused(api.post("/users", {"name": "mallory", "roles": ["operator"]}), "command:*")


def test_users_admin_cannot_reset_disable_or_delete_the_admin(site):
    t = site
    api, since = t.login("ulysses"), t.last_seq()
    _refused(api.patch(f"/users/{t.root_id}", {"password": "ulysses owns root now"}), "*")
    _refused(api.patch(f"/users/{t.root_id}", {"is_active": False}), "*")
    _refused(api.patch(f"/users/{t.root_id}", {"roles": []}), "*")
    _refused(api.delete(f"/users/{t.root_id}"), "*")
    assert len(_denied_rows(t, since, "ulysses")) == 4
    root = t.login("root")                        # the old password still works: nothing changed
    assert root.get("/auth/me").json()["roles"] == ["admin"]
    assert t.audit("user.update", since) == [] and t.audit("user.delete", since) == []


def test_users_admin_cannot_bind_a_chat_identity_to_the_admin(site):
    t = site
    api, since = t.login("ulysses"), t.last_seq()
    _refused(api.post("/identities", {"channel": "generic", "platform_user_id": "mallory-chat",
                                      "user_id": t.root_id}), "*")
    gus_identity = _identity_id(t, api, "gus-chat")
    _refused(api.patch(f"/identities/{gus_identity}", {"user_id": t.root_id}), "*")
    listed = {i["platform_user_id"]: i["user_id"] for i in api.get("/identities").json()["identities"]}
    assert "mallory-chat" not in listed and listed["gus-chat"] == t.gus_id
    assert [r["target"] for r in _denied_rows(t, since, "ulysses")] == ["generic:mallory-chat", "generic:gus-chat"]


def test_users_admin_cannot_unbind_or_take_over_the_admins_identity(site):
    t = site
    api = t.login("ulysses")
    root_identity = _identity_id(t, api, "root-chat")
    _refused(api.patch(f"/identities/{root_identity}", {"user_id": None}), "*")
    _refused(api.patch(f"/identities/{root_identity}", {"user_id": t.gus_id}), "*")
    _refused(api.post("/identities", {"channel": "generic", "platform_user_id": "root-chat", "user_id": t.gus_id}),
             "*")
    _refused(api.delete(f"/identities/{root_identity}"), "*")
    listed = {i["platform_user_id"]: i["user_id"] for i in api.get("/identities").json()["identities"]}
    assert listed["root-chat"] == t.root_id


def test_users_admin_still_manages_the_users_it_covers(site):
    t = site
    api = t.login("ulysses")
    made = api.post("/users", {"name": "greta", "roles": ["guest"], "password": "greta's long password"})
    assert made.status_code == 201, made.text
    uid = made.json()["id"]
    bound = api.post("/identities", {"channel": "generic", "platform_user_id": "greta-chat", "user_id": uid})
    assert bound.status_code == 201, bound.text
    assert api.patch(f"/users/{uid}", {"is_active": False}).json()["is_active"] is False
    assert api.patch(f"/users/{t.gus_id}", {"roles": []}).json()["roles"] == []
    assert api.patch(f"/users/{t.ulysses_id}", {"display_name": "Ulysses"}).status_code == 200
    assert api.delete(f"/users/{uid}").status_code == 200


# -- admin:roles ----------------------------------------------------------------------------------
def test_roles_admin_cannot_widen_its_own_role(site):
    t = site
    api, since = t.login("ronda"), t.last_seq()
    _refused(api.patch("/roles/ronda-role", {"permissions": ["*"]}), "*")
    _refused(api.patch("/roles/ronda-role", {"permissions": [*ROLES_ADMIN, "admin:users"]}), "admin:users")
    _refused(api.post("/roles", {"name": "backdoor", "permissions": ["command:*"]}), "command:*")
    _refused(api.post("/roles/admin/copy", {"name": "admin-2"}), "*")
    assert t.permissions_of_role("ronda-role") == ROLES_ADMIN
    rows = _denied_rows(t, since, "ronda")
    assert [r["target"] for r in rows] == ["role:ronda-role", "role:ronda-role", "role:backdoor", "role:admin-2"]
    assert api.get("/roles/backdoor").status_code == 404


def test_roles_admin_cannot_strip_the_admin_role(site):
    t = site
    api = t.login("ronda")
    _refused(api.patch("/roles/admin", {"permissions": ["chat"]}), "*")
    _refused(api.patch("/roles/admin", {"chat_scope": ["generic:nowhere"]}), "*")
    _refused(api.patch("/roles/admin", {"description": "mine"}), "*")
    assert t.permissions_of_role("admin") == ["*"]
    assert t.login("root").get("/users").status_code == 200


def test_a_chat_scoped_grant_covers_only_its_chats(site):
    t = site
    with t.db.write() as conn:              # sally may run the disk command only in one room
        conn.execute(sa.insert(Role.__table__).values(
            name="room-ops", description="", permissions=["command:run:disk"], chat_scope=["generic:room"],
            is_template=False, source="db", created_at=time.time(), updated_at=time.time()))
    t.add_user("sally", ["room-ops"], permissions=ROLES_ADMIN)
    api = t.login("sally")
    everywhere = api.post("/roles", {"name": "disk-everywhere", "permissions": ["command:run:disk"]})
    assert "in every chat" in _refused(everywhere, "command:run:disk")
    other_room = api.post("/roles", {"name": "disk-other", "permissions": ["command:run:disk"],
                                     "chat_scope": ["generic:room", "generic:other"]})
    assert "generic:other" in _refused(other_room, "command:run:disk")
    same_room = api.post("/roles", {"name": "disk-room", "permissions": ["command:run:disk"],
                                    "chat_scope": ["generic:room"]})
    assert same_room.status_code == 201, same_room.text


def test_roles_admin_still_makes_roles_within_its_rights(site):
    t = site
    api = t.login("ronda")
    made = api.post("/roles", {"name": "helpdesk", "permissions": ["chat"]})
    assert made.status_code == 201, made.text
    assert api.patch("/roles/helpdesk", {"chat_scope": ["generic:help"]}).status_code == 200
    assert api.post("/roles/guest/copy", {"name": "guest-2"}).status_code == 201
    assert api.delete("/roles/helpdesk").status_code == 200
    permissions = api.get("/permissions").json()["permissions"]
    described = {p["name"]: p["description"] for p in permissions}
    assert "admin:users" in described and "it holds itself" in described["admin:users"]
    assert "admin:workflows" in described and "admin:commands" in described


def test_the_last_admin_cannot_lock_everyone_out(site):
    t = site
    api, since = t.login("root"), t.last_seq()
    stripped = api.patch("/roles/admin", {"permissions": ["admin:login", "admin:users"]})
    assert stripped.status_code == 409 and "'*'" in stripped.json()["error"], stripped.text
    scoped = api.patch("/roles/admin", {"chat_scope": ["generic:somewhere"]})
    assert scoped.status_code == 409, scoped.text
    assert t.permissions_of_role("admin") == ["*"]
    assert api.patch(f"/users/{t.root_id}", {"is_active": False}).status_code == 409
    # with a second full admin the same change is fine
    t.add_user("root2", ["admin"])
    assert api.patch(f"/users/{t.root_id}", {"roles": ["guest"]}).status_code == 200
    assert t.roles_of("root") == ["guest"]


# -- the admin page -------------------------------------------------------------------------------
def test_users_admin_cannot_grant_itself_the_admin_role_on_the_page(site):
    t = site
    page, since = AdminPage(t.url, "ulysses", PASSWORD), t.last_seq()
    form = page.get("/admin/users").text.split('id="new-user"')[1].split("</form>")[0]
    boxes = dict(re.findall(r'<input type="checkbox" name="roles" value="([^"]+)"([^>]*)>', form))
    assert "disabled" in boxes["admin"] and "disabled" in boxes["operator"]      # not offered
    assert "disabled" not in boxes["guest"]
    resp = page.post(f"/admin/users/{t.ulysses_id}", {"roles": ["admin", "ulysses-role"], "is_active": "on"})
    assert resp.status_code == 200
    shown = html.unescape(resp.text)
    assert "you may not" in shown and "'*'" in shown and "Saved." not in shown
    assert t.roles_of("ulysses") == ["ulysses-role"]
    resp = page.post(f"/admin/users/{t.root_id}", {"roles": ["admin"], "is_active": "on",
                                                   "password": "ulysses owns root now"})
    assert "you may not" in html.unescape(resp.text)
    assert len(_denied_rows(t, since, "ulysses")) == 2
    t.login("root")                                      # the password did not change


def test_roles_admin_cannot_widen_a_role_on_the_page(site):
    t = site
    page = AdminPage(t.url, "ronda", PASSWORD)
    resp = page.post("/admin/roles/ronda-role", {"areas": ["admin:login", "admin:roles", "admin:users"],
                                                  "extra": "chat", "description": ""})
    assert resp.status_code == 200 and "admin:users" in html.unescape(resp.text)
    assert t.permissions_of_role("ronda-role") == ROLES_ADMIN
    resp = page.post("/admin/roles/admin", {"areas": [], "extra": "chat", "description": ""})
    assert "you may not" in html.unescape(resp.text)
    assert t.permissions_of_role("admin") == ["*"]
