"""The admin API's authentication: login, refresh, logout with revocation, and every way a token
can be wrong (none, expired, tampered, alg none, wrong kind, wrong role)."""
from __future__ import annotations

import base64
import json
from datetime import timedelta

import requests
import sqlalchemy as sa

from smartbot.auth.accounts import create_admin

PASSWORD = "correct horse battery"


def _api(app, method: str, path: str, token: str | None = None, **kw) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    return requests.request(method, app.url + "/api/v1" + path, headers=headers, timeout=10, **kw)


def _login(app, name: str = "root", password: str = PASSWORD) -> requests.Response:
    return _api(app, "POST", "/auth/login", json={"name": name, "password": password})


def _app_with_admin(live_app, make_config):
    app = live_app(make_config())
    create_admin(app.runtime.db, "root", PASSWORD)
    return app


def test_login_me_refresh_logout(live_app, make_config):
    app = _app_with_admin(live_app, make_config)
    tokens = _login(app).json()
    assert _api(app, "GET", "/auth/me", tokens["access_token"]).json()["roles"] == ["admin"]
    fresh = _api(app, "POST", "/auth/refresh", tokens["refresh_token"])
    assert fresh.status_code == 200
    new_access = fresh.json()["access_token"]
    assert _api(app, "GET", "/auth/me", new_access).status_code == 200
    out = _api(app, "POST", "/auth/logout", new_access, json={"refresh_token": tokens["refresh_token"]})
    assert out.status_code == 200
    revoked = _api(app, "GET", "/auth/me", new_access)
    assert revoked.status_code == 401 and "revoked" in revoked.json()["error"]
    assert _api(app, "POST", "/auth/refresh", tokens["refresh_token"]).status_code == 401


def test_wrong_password_and_lockout(live_app, make_config):
    app = _app_with_admin(live_app, make_config)
    for _ in range(4):
        bad = _login(app, password="nope nope nope")
        assert bad.status_code == 401 and "wrong" in bad.json()["error"]
    assert _login(app, password="nope nope nope").status_code == 429
    locked = _login(app)          # this address waits (429), however right the password
    assert locked.status_code == 429 and "too many" in locked.json()["error"]
    assert 0 < int(locked.headers["Retry-After"]) <= 900


def test_no_token(live_app, make_config):
    app = _app_with_admin(live_app, make_config)
    resp = _api(app, "GET", "/auth/me")
    assert resp.status_code == 401 and resp.json()["error"]


def test_expired_token(live_app, make_config):
    app = _app_with_admin(live_app, make_config)
    from flask_jwt_extended import create_access_token

    with app.app.app_context():
        token = create_access_token(identity="1", expires_delta=timedelta(seconds=-5))
    resp = _api(app, "GET", "/auth/me", token)
    assert resp.status_code == 401 and "expired" in resp.json()["error"]


def _b64(data: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(data).encode()).rstrip(b"=").decode()


def test_tampered_and_alg_none_tokens(live_app, make_config):
    app = _app_with_admin(live_app, make_config)
    token = _login(app).json()["access_token"]
    header, payload, signature = token.split(".")
    claims = json.loads(base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4)))
    claims["sub"] = "999"
    tampered = ".".join([header, _b64(claims), signature])
    assert _api(app, "GET", "/auth/me", tampered).status_code == 401
    unsigned = ".".join([_b64({"alg": "none", "typ": "JWT"}), payload, ""])
    assert _api(app, "GET", "/auth/me", unsigned).status_code == 401
    other_key = ".".join([header, payload, _b64({"x": 1})])
    assert _api(app, "GET", "/auth/me", other_key).status_code == 401


def test_access_token_is_not_a_refresh_token(live_app, make_config):
    app = _app_with_admin(live_app, make_config)
    token = _login(app).json()["access_token"]
    assert _api(app, "POST", "/auth/refresh", token).status_code == 401


def test_wrong_role_is_refused_and_audited(live_app, make_config):
    app = _app_with_admin(live_app, make_config)
    token = _login(app).json()["access_token"]
    with app.runtime.db.write() as conn:
        conn.execute(sa.text("UPDATE roles SET permissions = '[\"chat\"]' WHERE name = 'admin'"))
    resp = _api(app, "GET", "/auth/me", token)
    assert resp.status_code == 403 and "admin:login" in resp.json()["error"]
    with app.runtime.db.read() as conn:
        assert conn.execute(sa.text("SELECT COUNT(*) FROM audit_log WHERE action = 'api.denied'")).scalar() == 1


def test_validation_errors_name_the_field(live_app, make_config):
    app = _app_with_admin(live_app, make_config)
    missing = _api(app, "POST", "/auth/login", json={"name": "root"})
    assert missing.status_code == 422 and missing.json()["field"] == "password"
    wrong_type = _api(app, "POST", "/auth/login", json={"name": 5, "password": "x"})
    assert wrong_type.status_code == 422 and wrong_type.json()["field"] == "name"
    unknown = _api(app, "POST", "/auth/login", json={"name": "a", "password": "b", "admin": True})
    assert unknown.status_code == 422 and unknown.json()["field"] == "admin"
    not_json = _api(app, "POST", "/auth/login", data="name=root")
    assert not_json.status_code == 400


def test_openapi_document_matches_the_routes(live_app, make_config):
    app = live_app(make_config())
    doc = _api(app, "GET", "/openapi.json").json()
    documented = {(path, method.upper()) for path, ops in doc["paths"].items() for method in ops}
    served = set()
    for rule in app.app.url_map.iter_rules():
        if rule.rule.startswith("/api/v1/") and rule.endpoint != "api.openapi_document":
            path = rule.rule
            for arg in rule.arguments:
                path = path.replace(f"<int:{arg}>", "{" + arg + "}").replace(f"<{arg}>", "{" + arg + "}")
            served |= {(path, m) for m in rule.methods - {"HEAD", "OPTIONS"}}
    assert served and documented == served


def test_cookie_auth_needs_the_csrf_token_on_writes(live_app, make_config):
    import re

    app = _app_with_admin(live_app, make_config)
    s = requests.Session()
    page = s.get(app.url + "/admin/login", timeout=5).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    s.post(app.url + "/admin/login", data={"csrf": csrf, "name": "root", "password": PASSWORD}, timeout=10)
    assert s.get(app.url + "/api/v1/users", timeout=5).status_code == 200       # reads need no CSRF token
    refused = s.post(app.url + "/api/v1/users", json={"name": "mallory"}, timeout=5)
    assert refused.status_code == 401 and "CSRF" in refused.json()["error"]
    allowed = s.post(app.url + "/api/v1/users", json={"name": "alice"}, timeout=5,
                     headers={"X-CSRF-TOKEN": s.cookies.get("csrf_access_token")})
    assert allowed.status_code == 201
    names = [u["name"] for u in s.get(app.url + "/api/v1/users", timeout=5).json()["users"]]
    assert "mallory" not in names and "alice" in names
