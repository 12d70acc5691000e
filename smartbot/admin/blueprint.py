"""/admin: log in, see the dashboard, log out. The session is a JWT in an HttpOnly cookie;
every form that changes something carries the CSRF token flask-jwt-extended pairs with it."""
from __future__ import annotations

import secrets

import sqlalchemy as sa
from flask import Blueprint, redirect, render_template, request, session, url_for
from flask_jwt_extended import (create_access_token, get_jwt, unset_jwt_cookies, set_access_cookies,
                                verify_jwt_in_request)
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from .. import audit
from ..i18n import normalize, t
from ..models import AuditLog
from ..ops.health import readiness
from ..web import current_runtime
from .accounts import check_login

bp = Blueprint("admin", __name__, url_prefix="/admin")


def _locale() -> str:
    runtime = current_runtime()
    chosen = request.args.get("lang") or request.cookies.get("smartbot_lang") or \
        request.accept_languages.best_match(["en", "zh-CN", "zh"]) or ""
    return normalize(chosen, runtime.settings.default_locale)


def _render(template: str, **kw):
    locale = _locale()
    runtime = current_runtime()
    return render_template(template, t=lambda key, **v: t(key, locale, **v), locale=locale,
                           bot_name=runtime.settings.bot_name, **kw)


def _current_admin() -> dict | None:
    try:
        verify_jwt_in_request(locations=["cookies"])
    except (JWTExtendedException, PyJWTError):
        return None
    return get_jwt()


@bp.get("/login")
def login_form():
    session.setdefault("login_csrf", secrets.token_urlsafe(24))
    return _render("admin/login.html", csrf=session["login_csrf"], error="")


@bp.post("/login")
def login():
    runtime = current_runtime()
    expected = session.get("login_csrf")
    if not expected or not secrets.compare_digest(expected, request.form.get("csrf", "")):
        return _render("admin/login.html", csrf=session.setdefault("login_csrf", secrets.token_urlsafe(24)),
                       error="CSRF"), 400
    name = request.form.get("name", "").strip()
    result = check_login(runtime.db, name, request.form.get("password", ""), request.remote_addr or "")
    if not result.ok:
        locale = _locale()
        error = t("admin.bad_login", locale) if "wrong" in result.reason else result.reason
        return _render("admin/login.html", csrf=session["login_csrf"], error=error), 401
    response = redirect(url_for("admin.dashboard"))
    set_access_cookies(response, create_access_token(identity=str(result.user_id), additional_claims={"name": name}))
    session.pop("login_csrf", None)
    return response


@bp.post("/logout")
def logout():
    claims = _current_admin()
    response = redirect(url_for("admin.login_form"))
    unset_jwt_cookies(response)
    if claims is not None:
        runtime = current_runtime()
        with runtime.db.write() as conn:
            audit.record(conn, "admin.logout", claims.get("name", "?"), "admin", "ok")
    return response


@bp.get("/")
def dashboard():
    claims = _current_admin()
    if claims is None:
        return redirect(url_for("admin.login_form"))
    runtime = current_runtime()
    ready, checks = readiness(runtime)
    table = AuditLog.__table__
    with runtime.db.read() as conn:
        recent = conn.execute(sa.select(table).order_by(table.c.seq.desc()).limit(20)).all()
    return _render("admin/dashboard.html", admin=claims.get("name"), ready=ready, checks=checks, recent=recent,
                   csrf=request.cookies.get("csrf_access_token", ""))
