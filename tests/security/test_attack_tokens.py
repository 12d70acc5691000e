"""Attacks on the API's tokens: a refresh token kept after logout, tokens kept after the owner's
password, active flag or roles changed, forged and tampered tokens (refused, and audited once per
address, reason and interval, never with the token in the row)."""
from __future__ import annotations

import base64
import json
import os
import re
import time

import jwt
import pytest
import requests

from tests.security.conftest import PASSWORD

NEW_PASSWORD = "another horse battery"


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def _claims(token: str) -> dict:
    payload = token.split(".")[1]
    return json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))


def _api(target, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token is not None else {}
    return requests.request(method, target.url + "/api/v1" + path, headers=headers, timeout=15, **kw)


def _refused_rows(target, since: int) -> list[dict]:
    return target.audit("api.unauthorized", since_seq=since)


@pytest.fixture
def people(target):
    """The app with an admin (root) and a user who may log in (alice)."""
    app = target()
    app.add_user("root", ["admin"])
    alice = app.add_user("alice", [], permissions=["admin:login"])
    return app, alice


def test_refresh_token_is_refused_after_a_logout_that_did_not_name_it(people):
    app, _ = people
    stolen = app.login("alice")
    assert stolen.post("/auth/logout").status_code == 200       # no refresh_token in the body
    resp = _api(app, "POST", "/auth/refresh", stolen.tokens["refresh_token"])
    assert resp.status_code == 401 and "logged out" in resp.json()["error"]
    assert _api(app, "GET", "/auth/me", stolen.tokens["access_token"]).status_code == 401


def test_an_access_token_from_refresh_dies_with_its_session(people):
    app, _ = people
    session = app.login("alice")
    fresh = _api(app, "POST", "/auth/refresh", session.tokens["refresh_token"])
    assert fresh.status_code == 200 and set(fresh.json()) == {"access_token", "token_type"}
    refreshed = fresh.json()["access_token"]
    assert _claims(refreshed)["sid"] == _claims(session.tokens["access_token"])["sid"]
    assert session.post("/auth/logout").status_code == 200       # logs out with the first access token
    resp = _api(app, "GET", "/auth/me", refreshed)
    assert resp.status_code == 401 and "logged out" in resp.json()["error"]


def test_logging_out_one_session_leaves_the_others(people):
    app, _ = people
    laptop, phone = app.login("alice"), app.login("alice")
    assert laptop.post("/auth/logout").status_code == 200
    assert phone.get("/auth/me").status_code == 200
    assert _api(app, "POST", "/auth/refresh", phone.tokens["refresh_token"]).status_code == 200


def test_logout_still_revokes_a_refresh_token_passed_to_it(people):
    app, _ = people
    other = app.login("alice")
    current = app.login("alice")
    out = current.post("/auth/logout", {"refresh_token": other.tokens["refresh_token"]})
    assert out.status_code == 200
    assert _api(app, "POST", "/auth/refresh", other.tokens["refresh_token"]).status_code == 401
    bad = app.login("alice").post("/auth/logout", {"refresh_token": "not a token"})
    assert bad.status_code == 422 and bad.json()["field"] == "refresh_token"


def _admin_page_login(app, name: str) -> requests.Session:
    s = requests.Session()
    page = s.get(app.url + "/admin/login", timeout=10).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    resp = s.post(app.url + "/admin/login", data={"csrf": csrf, "name": name, "password": PASSWORD},
                  allow_redirects=False, timeout=15)
    assert resp.status_code == 302, resp.text
    return s


def test_a_copied_admin_page_cookie_is_refused_after_logout(people):
    app, _ = people
    s = _admin_page_login(app, "root")
    copied = {c.name: c.value for c in s.cookies}
    out = s.post(app.url + "/admin/logout", data={"csrf_token": s.cookies.get("csrf_access_token")},
                 allow_redirects=False, timeout=10)
    assert out.status_code == 302
    again = requests.get(app.url + "/admin/", cookies=copied, allow_redirects=False, timeout=10)
    assert again.status_code == 302 and "/admin/login" in again.headers["Location"]
    cookie_api = requests.get(app.url + "/api/v1/auth/me", cookies=copied, timeout=10)
    assert cookie_api.status_code == 401 and "logged out" in cookie_api.json()["error"]


def _change_password(admin, alice_id: int) -> None:
    assert admin.patch(f"/users/{alice_id}", {"password": NEW_PASSWORD}).status_code == 200


def _deactivate_and_reactivate(admin, alice_id: int) -> None:
    assert admin.patch(f"/users/{alice_id}", {"is_active": False}).status_code == 200
    assert admin.patch(f"/users/{alice_id}", {"is_active": True}).status_code == 200


def _change_roles(admin, alice_id: int) -> None:
    assert admin.patch(f"/users/{alice_id}", {"roles": ["alice-role", "user"]}).status_code == 200


@pytest.mark.parametrize("change", [_change_password, _deactivate_and_reactivate, _change_roles],
                         ids=["password", "deactivation", "roles"])
def test_tokens_issued_before_an_account_change_are_refused(people, change):
    app, alice_id = people
    admin = app.login("root")
    old = app.login("alice")
    assert old.get("/auth/me").status_code == 200
    change(admin, alice_id)
    for kind, path in (("access_token", "/auth/me"), ("refresh_token", "/auth/refresh")):
        resp = _api(app, "POST" if kind == "refresh_token" else "GET", path, old.tokens[kind])
        assert resp.status_code == 401, (kind, resp.text)
        assert "log in again" in resp.json()["error"] and "changed" in resp.json()["error"], resp.text
    new = app.login("alice", NEW_PASSWORD if change is _change_password else PASSWORD)
    assert new.get("/auth/me").status_code == 200
    assert _api(app, "POST", "/auth/refresh", new.tokens["refresh_token"]).status_code == 200
    assert admin.get("/auth/me").status_code == 200           # the admin's own tokens are untouched


def test_deleting_a_role_ends_its_members_tokens(target):
    app = target()
    app.add_user("root", ["admin"])
    app.add_user("helper", [], permissions=["chat"])           # makes the role "helper-role"
    app.add_user("carol", ["helper-role"], permissions=["admin:login"])
    admin, old = app.login("root"), app.login("carol")
    assert admin.delete("/roles/helper-role").status_code == 200
    resp = old.get("/auth/me")
    assert resp.status_code == 401 and "log in again" in resp.json()["error"], resp.text
    assert app.login("carol").get("/auth/me").status_code == 200


def test_a_change_that_does_not_touch_access_keeps_the_tokens(people):
    app, alice_id = people
    admin = app.login("root")
    old = app.login("alice")
    assert admin.patch(f"/users/{alice_id}", {"display_name": "Alice A."}).status_code == 200
    assert old.get("/auth/me").status_code == 200


def test_a_deleted_users_tokens_are_refused(people):
    app, alice_id = people
    admin = app.login("root")
    old = app.login("alice")
    assert admin.delete(f"/users/{alice_id}").status_code == 200
    app.add_user("bob", [], permissions=["admin:login"])          # may take the freed id (SQLite)
    resp = old.get("/auth/me")
    assert resp.status_code == 401
    assert _api(app, "POST", "/auth/refresh", old.tokens["refresh_token"]).status_code == 401


def test_forged_token_is_refused_and_audited_once_per_interval(target):
    app = target(audit={"refusal_audit_interval": 60.0})
    app.add_user("root", ["admin"])
    genuine = _claims(app.login("root").tokens["access_token"])
    since = app.last_seq()
    forged = jwt.encode({**genuine, "exp": int(time.time()) + 600}, "not-the-servers-key-but-long-enough-to-pass", algorithm="HS256")
    for _ in range(12):
        resp = _api(app, "GET", "/users", forged)
        assert resp.status_code == 401 and resp.json()["error"] == "the token is not valid"
    rows = _refused_rows(app, since)
    # One row per address, reason and interval in each process (two gunicorn workers here), not
    # one per request.
    assert 1 <= len(rows) <= 2, rows
    row = rows[0]
    assert row["result"] == "refused" and row["actor"] == "127.0.0.1"
    assert row["details"]["reason"] == "the token is not valid" and row["details"]["path"] == "/api/v1/users"
    assert forged not in json.dumps(rows) and forged.split(".")[2] not in json.dumps(rows)


def test_tampered_token_is_refused_and_audited(target):
    app = target(audit={"refusal_audit_interval": 60.0})
    app.add_user("root", ["admin"])
    app.add_user("mallory", [], permissions=["admin:login"])
    token = app.login("mallory").tokens["access_token"]
    header, payload, signature = token.split(".")
    claims = _claims(token)
    claims.update(sub="1", name="root")                          # claim to be the admin
    tampered = ".".join([header, _b64(claims), signature])
    since = app.last_seq()
    for _ in range(5):
        resp = _api(app, "GET", "/users", tampered)
        assert resp.status_code == 401 and resp.json()["error"] == "the token is not valid"
    rows = _refused_rows(app, since)
    assert 1 <= len(rows) <= 2 and all(r["details"]["reason"] == "the token is not valid" for r in rows)
    assert signature not in json.dumps(rows)


def test_each_kind_of_bad_token_is_audited_with_its_reason(target):
    app = target()                                  # the tests' interval: every refusal audited
    app.add_user("root", ["admin"])
    session = app.login("root")
    expired = jwt.encode({**_claims(session.tokens["access_token"]), "exp": int(time.time()) - 60},
                         os.environ["SMARTBOT_SECRET_KEY"], algorithm="HS256")   # signed with the real key
    since = app.last_seq()
    assert _api(app, "GET", "/auth/me").status_code == 401                                    # missing
    assert _api(app, "POST", "/auth/refresh", session.tokens["access_token"]).status_code == 401   # wrong kind
    assert _api(app, "GET", "/auth/me", expired).status_code == 401                          # expired
    assert session.post("/auth/logout").status_code == 200
    assert session.get("/auth/me").status_code == 401                                          # logged out
    reasons = [r["details"]["reason"] for r in _refused_rows(app, since)]
    assert any("missing" in r.lower() for r in reasons), reasons
    assert any("refresh" in r.lower() for r in reasons), reasons
    assert any("expired" in r for r in reasons), reasons
    assert any("logged out" in r for r in reasons), reasons
    assert all(set(r["details"]) >= {"reason", "path"} for r in _refused_rows(app, since))
