"""Logging in and out of the admin page (logging out ends the session: its token is refused
afterwards, wherever a copy of the cookie went)."""
from __future__ import annotations

import secrets

from flask import redirect, request, session, url_for
from flask_jwt_extended import get_jwt, set_access_cookies, unset_jwt_cookies, verify_jwt_in_request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from .. import audit
from ..audit import actors
from ..web import session as web_session
from ..auth.accounts import check_login
from ..i18n import t
from ..web.context import current_runtime, login_guard
from .base import bp, locale, render


def _login_csrf() -> str:
    return session.setdefault("login_csrf", secrets.token_urlsafe(24))


@bp.get("/login")
def login_form():
    return render("admin/login.html", login_csrf=_login_csrf(), error="", next=request.args.get("next", ""))


@bp.post("/login")
def login():
    runtime = current_runtime()
    expected = session.get("login_csrf")
    if not expected or not secrets.compare_digest(expected, request.form.get("csrf", "")):
        return render("admin/login.html", status=400, login_csrf=_login_csrf(), error=t("reason.token.login_form_expired", locale()), next="")
    name = request.form.get("name", "").strip()
    result = check_login(runtime.db, name, request.form.get("password", ""), request.remote_addr or "", login_guard())
    if result.retry_after:
        refused = render("admin/login.html", status=429, login_csrf=_login_csrf(),
                         error=t("setup.login_wait", locale(), seconds=result.retry_after), next="")
        refused.headers["Retry-After"] = str(result.retry_after)
        return refused
    if not result.ok:
        return render("admin/login.html", status=401, login_csrf=_login_csrf(), error=t("admin.bad_login", locale()),
                      next="")
    target = request.form.get("next") or ""
    if not target.startswith("/admin/") or target.startswith("//"):
        target = url_for("admin.dashboard")
    response = redirect(target)
    set_access_cookies(response, web_session.issue_tokens(result.user_id, name, result.generation,
                                                          with_refresh=False)["access_token"])
    session.pop("login_csrf", None)
    return response


@bp.post("/logout")
def logout():
    runtime = current_runtime()
    response = redirect(url_for("admin.login_form"))
    unset_jwt_cookies(response)
    try:
        verify_jwt_in_request(locations=["cookies"])
    except (JWTExtendedException, PyJWTError):
        return response
    claims = get_jwt()
    with runtime.db.write() as conn:
        web_session.revoke(conn, runtime.db, claims)
        audit.record(conn, "admin.logout", actors.of_user(claims.get("name", "?")), "admin", "ok")
    return response
