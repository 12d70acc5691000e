"""Who is calling the API: JWT checks (expiry, signature, revocation), the caller's roles, and the
permission check that fails closed and audits every refusal."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from cachetools import TTLCache
from flask import Flask
from flask_jwt_extended import (JWTManager, create_access_token, create_refresh_token, decode_token, get_jwt,
                                verify_jwt_in_request)
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError

from .. import audit
from ..auth import rbac
from ..auth.identities import principal_for_user
from ..auth.rbac import Principal
from ..models import RevokedToken, User
from .context import ApiError

_revoked, _users = RevokedToken.__table__, User.__table__
_revoked_cache: TTLCache = TTLCache(maxsize=10000, ttl=5)


def init_jwt(app: Flask, runtime: Any) -> JWTManager:
    app.config["JWT_DECODE_ALGORITHMS"] = ["HS256"]        # never "none", never another family
    manager = JWTManager(app)

    @manager.token_in_blocklist_loader
    def _is_revoked(_header: dict, payload: dict) -> bool:
        return is_revoked(runtime.db, payload.get("jti", ""))

    return manager


def is_revoked(db: Any, jti: str) -> bool:
    cached = _revoked_cache.get(jti)
    if cached is not None:
        return cached
    with db.read() as conn:
        revoked = conn.execute(sa.select(_revoked.c.jti).where(_revoked.c.jti == jti)).first() is not None
    if revoked:
        _revoked_cache[jti] = True
    return revoked


def revoke(conn: Any, db: Any, encoded_or_claims: str | dict) -> None:
    claims = decode_token(encoded_or_claims, allow_expired=True) if isinstance(encoded_or_claims, str) \
        else encoded_or_claims
    conn.execute(db.insert_ignore(_revoked).values(jti=claims["jti"], expires_at=float(claims.get("exp", 0))))
    conn.execute(sa.delete(_revoked).where(_revoked.c.expires_at < time.time() - 60))
    _revoked_cache[claims["jti"]] = True


def issue_tokens(user_id: int, name: str) -> dict[str, str]:
    claims = {"name": name}
    return {"access_token": create_access_token(identity=str(user_id), additional_claims=claims),
            "refresh_token": create_refresh_token(identity=str(user_id), additional_claims=claims),
            "token_type": "Bearer"}


def require(runtime: Any, permission: str, refresh: bool = False,
            locations: list[str] | None = None) -> tuple[Principal, dict[str, Any]]:
    """The caller's principal, or ApiError 401 (no valid token) / 403 (not allowed, audited).
    The admin page passes locations=["cookies"], which also enforces the CSRF token on writes."""
    try:
        verify_jwt_in_request(refresh=refresh, locations=locations)
    except (JWTExtendedException, PyJWTError) as exc:
        raise ApiError(401, _token_problem(exc)) from None
    claims = get_jwt()
    with runtime.db.read() as conn:
        row = conn.execute(sa.select(_users.c.id, _users.c.name, _users.c.is_active)
                           .where(_users.c.id == int(claims["sub"]))).first()
        if row is None or not row.is_active:
            raise ApiError(401, "the account no longer exists or is disabled")
        principal = principal_for_user(conn, row.id, row.name)
    decision = rbac.check(principal, permission)
    if not decision.allowed:
        with runtime.db.write() as conn:
            audit.record(conn, "api.denied", f"admin:{principal.name}", permission, "denied",
                         {"reason": decision.reason})
        raise ApiError(403, decision.reason)
    return principal, claims


def _token_problem(exc: Exception) -> str:
    name = type(exc).__name__
    if "Expired" in name:
        return "the token has expired; refresh it or log in again"
    if "Revoked" in name:
        return "the token was revoked (logged out)"
    if "NoAuthorization" in name or "CSRF" in name:
        return str(exc) or "missing token"
    if "WrongToken" in name:
        return str(exc)
    return "the token is not valid"
