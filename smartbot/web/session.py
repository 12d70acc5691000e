"""Who is calling the admin API, the admin page or /readyz and /metrics: JWT checks (signature,
expiry, kind, the session and the user's token generation), the caller's roles, and the permission
check that fails closed.

Sessions: the access and refresh tokens of one login share a session id (`sid`); logging out
revokes the session, so every token of that login is refused afterwards, the refresh token too
even when it was not passed to logout. Refreshing keeps the session id.
Generations: every token carries its user's token generation (`gen`, see auth/tokens.py), checked
against the user row this module reads on every request anyway (no extra query).

One module for every face that takes an admin's token (api/, admin/, ops/ import it; it imports
none of them). A refusal is an AccessRefused with the status and the reason; each face shows it
its own way (the API as JSON, the page as a login form or an error page).

Every refusal is audited: a 403 always (`api.denied`), a 401 (`api.unauthorized`) at most once
per address, reason and `[audit] refusal_audit_interval`, with the reason and the path, never the
token.
"""
from __future__ import annotations

import time
import uuid
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from cachetools import TTLCache
from flask import Flask, current_app, request
from flask_jwt_extended import (JWTManager, create_access_token, create_refresh_token, decode_token, get_jwt,
                                verify_jwt_in_request)
from flask_jwt_extended.exceptions import JWTExtendedException, NoAuthorizationError
from jwt.exceptions import PyJWTError

from .. import audit
from ..audit import actors
from ..auth import rbac
from ..auth.identities import principal_for_user
from ..auth.rbac import Principal
from ..i18n.reasons import reason
from ..storage.tables import RevokedToken, User

_revoked, _users = RevokedToken.__table__, User.__table__
_revoked_cache: TTLCache = TTLCache(maxsize=10000, ttl=5)
SESSION_CLAIMS = ("name", "sid", "gen")
# A token issued before its user row was created belongs to an earlier user with the same id
# (SQLite reuses the highest id after a delete); the slack covers clocks of different nodes.
CREATED_SLACK_SECONDS = 5
GONE = "the account no longer exists or is disabled"
CHANGED = "the account's password, roles or active flag changed since this token was issued; log in again"
OLD_TOKEN = "the token was issued by an older version without sessions; log in again"
# flask-jwt-extended's CSRF refusals, word for word (the API's `error`), by catalogue key.
_CSRF_PROBLEMS = {"Missing CSRF token": "reason.token.csrf_missing",
                  "CSRF double submit tokens do not match": "reason.token.csrf_mismatch"}


class AccessRefused(Exception):
    """The caller may not go on: 401 (no valid token, session or account) or 403 (not allowed)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


def init_jwt(app: Flask, runtime: Any) -> JWTManager:
    app.config["JWT_DECODE_ALGORITHMS"] = ["HS256"]        # never "none", never another family
    manager = JWTManager(app)

    @manager.token_in_blocklist_loader
    def _is_revoked(_header: dict, payload: dict) -> bool:
        return is_revoked(runtime.db, _revocation_key(payload))

    return manager


def _revocation_key(claims: dict) -> str:
    """What logout writes down: the session (every token of one login), or a session-less token."""
    return f"session:{claims['sid']}" if claims.get("sid") else str(claims.get("jti", ""))


def is_revoked(db: Any, key: str) -> bool:
    cached = _revoked_cache.get(key)
    if cached is not None:
        return cached
    with db.read() as conn:
        revoked = conn.execute(sa.select(_revoked.c.jti).where(_revoked.c.jti == key)).first() is not None
    if revoked:
        _revoked_cache[key] = True
    return revoked


def revoke(conn: Connection, db: Any, encoded_or_claims: str | dict) -> None:
    """End the session a token (encoded, or its claims) belongs to: all of its tokens are refused
    from now on, until the longest-lived of them would have expired anyway."""
    claims = decode_token(encoded_or_claims, allow_expired=True) if isinstance(encoded_or_claims, str) \
        else encoded_or_claims
    key = _revocation_key(claims)
    expires_at = time.time() + current_app.config["JWT_REFRESH_TOKEN_EXPIRES"].total_seconds()
    conn.execute(db.insert_ignore(_revoked).values(jti=key, expires_at=expires_at))
    conn.execute(sa.delete(_revoked).where(_revoked.c.expires_at < time.time() - 60))
    _revoked_cache[key] = True


def issue_tokens(user_id: int, name: str, generation: int, with_refresh: bool = True) -> dict[str, str]:
    """The tokens of one new login (one session)."""
    claims = {"name": name, "sid": uuid.uuid4().hex, "gen": generation}
    tokens = {"access_token": create_access_token(identity=str(user_id), additional_claims=claims),
              "token_type": "Bearer"}
    if with_refresh:
        tokens["refresh_token"] = create_refresh_token(identity=str(user_id), additional_claims=claims)
    return tokens


def refreshed_access_token(refresh_claims: dict[str, Any]) -> str:
    """A new access token in the same session as the (checked) refresh token."""
    return create_access_token(identity=refresh_claims["sub"],
                               additional_claims={k: refresh_claims[k] for k in SESSION_CLAIMS})


def require(runtime: Any, permission: str, refresh: bool = False,
            locations: list[str] | None = None) -> tuple[Principal, dict[str, Any]]:
    """The caller's principal, or AccessRefused 401 (no valid token) / 403 (not allowed); both audited.
    The admin page passes locations=["cookies"], which also enforces the CSRF token on writes."""
    try:
        verify_jwt_in_request(refresh=refresh, locations=locations)
    except (JWTExtendedException, PyJWTError) as exc:
        # A page visitor who has not logged in yet is shown the login form, not audited.
        quiet = locations == ["cookies"] and isinstance(exc, NoAuthorizationError)
        raise _unauthorized(runtime, _token_problem(exc), audited=not quiet) from None
    claims = get_jwt()
    with runtime.db.read() as conn:
        row = conn.execute(sa.select(_users.c.id, _users.c.name, _users.c.is_active, _users.c.token_generation,
                                     _users.c.created_at)
                           .where(_users.c.id == int(claims["sub"]))).first()
        problem = _account_problem(row, claims)
        if not problem:
            principal = principal_for_user(conn, row.id, row.name)
    if problem:
        raise _unauthorized(runtime, problem)
    decision = rbac.check(principal, permission)
    if not decision.allowed:
        with runtime.db.write() as conn:
            audit.record(conn, "api.denied", actors.of_user(principal.name), permission, "denied",
                         {"reason": decision.reason})
        raise AccessRefused(403, decision.reason)
    return principal, claims


def _account_problem(row: Row[Any], claims: dict[str, Any]) -> str:
    """Why a validly signed token no longer stands for its user ('' when it does)."""
    if row is None or not row.is_active or row.name != claims.get("name") \
            or float(claims.get("iat", 0)) < (row.created_at or 0) - CREATED_SLACK_SECONDS:
        return GONE
    if "sid" not in claims or "gen" not in claims:
        return OLD_TOKEN
    if claims["gen"] != row.token_generation:
        return CHANGED
    return ""


def _unauthorized(runtime: Any, reason: str, audited: bool = True) -> AccessRefused:
    """The 401 to raise, audited first (rate-limited like refused webhooks)."""
    if audited:
        address = request.remote_addr or "unknown"
        current_app.extensions["smartbot_refusals"].record(
            "api.unauthorized", address, "api" if request.path.startswith("/api/") else "admin", reason,
            {"reason": reason, "path": request.path})
    return AccessRefused(401, reason)


def _token_problem(exc: Exception) -> str:
    name = type(exc).__name__
    if "Expired" in name:
        return "the token has expired; refresh it or log in again"
    if "Revoked" in name:
        return "the token was revoked (its session was logged out); log in again"
    if str(exc) in _CSRF_PROBLEMS:            # shown on the admin page: said in its language
        return reason(_CSRF_PROBLEMS[str(exc)])
    if "NoAuthorization" in name or "CSRF" in name:
        return str(exc) or "missing token"
    if "WrongToken" in name:
        return str(exc)
    return "the token is not valid"
