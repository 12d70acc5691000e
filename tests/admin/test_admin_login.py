"""The admin page's login: created from the command line, JWT cookie, back-off, audited."""
from __future__ import annotations

import re

import pytest
import requests
import sqlalchemy as sa

from smartbot.auth.accounts import AccountError, create_admin

PASSWORD = "correct horse battery"


def _login(app, name: str, password: str) -> tuple[requests.Session, requests.Response]:
    s = requests.Session()
    page = s.get(app.url + "/admin/login", timeout=5).text
    csrf = re.search(r'name="csrf" value="([^"]+)"', page).group(1)
    resp = s.post(app.url + "/admin/login", data={"csrf": csrf, "name": name, "password": password},
                  allow_redirects=False, timeout=10)
    return s, resp


def test_weak_passwords_are_refused(live_app, make_config):
    app = live_app(make_config())
    with pytest.raises(AccountError, match="at least"):
        create_admin(app.runtime.db, "admin", "short")
    with pytest.raises(AccountError):
        create_admin(app.runtime.db, "adminadmin", "adminadmin")


def test_login_dashboard_logout(live_app, make_config):
    app = live_app(make_config())
    create_admin(app.runtime.db, "root", PASSWORD)
    assert requests.get(app.url + "/admin/", allow_redirects=False, timeout=5).status_code == 302
    s, resp = _login(app, "root", PASSWORD)
    assert resp.status_code == 302
    cookie = next(c for c in s.cookies if c.name == "access_token_cookie")
    assert cookie.has_nonstandard_attr("HttpOnly")
    dash = s.get(app.url + "/admin/", timeout=5)
    assert dash.status_code == 200 and "admin.login" in dash.text       # the audit entry of this login
    csrf = s.cookies.get("csrf_access_token")
    out = s.post(app.url + "/admin/logout", data={"csrf_token": csrf}, allow_redirects=False, timeout=5)
    assert out.status_code == 302
    assert s.get(app.url + "/admin/", allow_redirects=False, timeout=5).status_code == 302


def test_wrong_password_is_refused_audited_and_backs_off(live_app, make_config):
    app = live_app(make_config())
    create_admin(app.runtime.db, "root", PASSWORD)
    for _ in range(4):
        assert _login(app, "root", "wrong password")[1].status_code == 401
    _, fifth = _login(app, "root", "wrong password")       # the failure that locks already says how long
    assert fifth.status_code == 429 and "Try again in 30 s" in fifth.text and fifth.headers["Retry-After"] == "30"
    _, locked = _login(app, "root", PASSWORD)
    assert locked.status_code == 429 and "Too many attempts" in locked.text and int(locked.headers["Retry-After"]) > 0
    with app.runtime.db.read() as conn:
        results = conn.execute(sa.text("SELECT result FROM audit_log WHERE action = 'admin.login'")).scalars().all()
    assert results == ["refused"] * 6


def test_login_form_needs_its_csrf_token(live_app, make_config):
    app = live_app(make_config())
    resp = requests.post(app.url + "/admin/login", data={"name": "x", "password": "y"}, timeout=5)
    assert resp.status_code == 400


def test_a_user_without_admin_rights_cannot_log_in(live_app, make_config):
    app = live_app(make_config())
    user_id = create_admin(app.runtime.db, "mallory", PASSWORD)
    with app.runtime.db.write() as conn:
        conn.execute(sa.text("DELETE FROM user_roles WHERE user_id = :u"), {"u": user_id})
    assert _login(app, "mallory", PASSWORD)[1].status_code == 401
