"""Log in, refresh, log out (revoking the tokens), and who am I."""
from __future__ import annotations

from flask import Blueprint, request
from flask_jwt_extended import get_jwt

from .. import audit
from ..admin.accounts import check_login
from ..web import login_guard
from . import auth
from .context import ApiContext, ApiError
from .registry import route
from .schema import Str

bp = Blueprint("api_session", __name__)


@route(bp, "/auth/login", "POST", summary="Log in; returns an access and a refresh token", permission=None,
       tag="auth", body={"name": Str(required=True, max_length=100), "password": Str(required=True, max_length=200)})
def login(ctx: ApiContext):
    result = check_login(ctx.runtime.db, ctx.body["name"], ctx.body["password"], request.remote_addr or "",
                         login_guard())
    if not result.ok:
        raise ApiError(401, result.reason)
    return auth.issue_tokens(result.user_id, ctx.body["name"])


@route(bp, "/auth/refresh", "POST", summary="A new access token for a refresh token", permission="admin:login",
       tag="auth", refresh=True)
def refresh(ctx: ApiContext):
    from flask_jwt_extended import create_access_token

    return {"access_token": create_access_token(identity=ctx.claims["sub"],
                                                additional_claims={"name": ctx.principal.name}),
            "token_type": "Bearer"}


@route(bp, "/auth/logout", "POST", summary="Revoke this access token (and the refresh token, if given)",
       permission="admin:login", tag="auth", body={"refresh_token": Str(max_length=4000)})
def logout(ctx: ApiContext):
    db = ctx.runtime.db
    with db.write() as conn:
        auth.revoke(conn, db, get_jwt())
        if ctx.body.get("refresh_token"):
            try:
                auth.revoke(conn, db, ctx.body["refresh_token"])
            except Exception:
                raise ApiError(422, "not a refresh token issued here", "refresh_token") from None
        audit.record(conn, "admin.logout", ctx.actor, "api", "ok")
    return {"status": "logged out"}


@route(bp, "/auth/me", "GET", summary="The caller and their roles", permission="admin:login", tag="auth")
def me(ctx: ApiContext):
    return {"name": ctx.principal.name, "roles": list(ctx.principal.roles), "user_id": ctx.principal.user_id}
