"""Log in, refresh, log out (ending the session: every token of that login), and who am I."""
from __future__ import annotations

from flask import Blueprint, jsonify, request

from .. import audit
from ..web import session as web_session
from ..auth.accounts import check_login
from ..manage.fields import Str
from ..web.context import login_guard
from .context import ApiContext, ApiError
from .registry import route

bp = Blueprint("api_session", __name__)


@route(bp, "/auth/login", "POST", summary="Log in; returns an access and a refresh token", permission=None,
       tag="auth", body={"name": Str(required=True, max_length=100), "password": Str(required=True, max_length=200)})
def login(ctx: ApiContext):
    result = check_login(ctx.runtime.db, ctx.body["name"], ctx.body["password"], request.remote_addr or "",
                         login_guard())
    if result.retry_after:
        refused = jsonify(error=result.reason, retry_after=result.retry_after)
        refused.status_code = 429
        refused.headers["Retry-After"] = str(result.retry_after)
        return refused
    if not result.ok:
        raise ApiError(401, result.reason)
    return web_session.issue_tokens(result.user_id, ctx.body["name"], result.generation)


@route(bp, "/auth/refresh", "POST", summary="A new access token for a refresh token", permission="admin:login",
       tag="auth", refresh=True)
def refresh(ctx: ApiContext):
    return {"access_token": web_session.refreshed_access_token(ctx.claims), "token_type": "Bearer"}


@route(bp, "/auth/logout", "POST", summary="End this session: every token of this login, the refresh token "
       "included (and the session of another refresh token, if given)",
       permission="admin:login", tag="auth", body={"refresh_token": Str(max_length=4000)})
def logout(ctx: ApiContext):
    db = ctx.runtime.db
    with db.write() as conn:
        web_session.revoke(conn, db, ctx.claims)
        if ctx.body.get("refresh_token"):
            try:
                web_session.revoke(conn, db, ctx.body["refresh_token"])
            except Exception:
                raise ApiError(422, "not a refresh token issued here", "refresh_token") from None
        audit.record(conn, "admin.logout", ctx.actor, "api", "ok")
    return {"status": "logged out"}


@route(bp, "/auth/me", "GET", summary="The caller and their roles", permission="admin:login", tag="auth")
def me(ctx: ApiContext):
    return {"name": ctx.principal.name, "roles": list(ctx.principal.roles), "user_id": ctx.principal.user_id}
