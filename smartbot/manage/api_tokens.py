"""Personal API tokens for both faces (the admin page and /api/v1/tokens): a user makes, lists and
revokes their own; a holder of `admin:users` also sees every user's and may make or revoke one for
another user.

A token for someone else is that someone's rights in the caller's hands, so making one is held to
the delegation rule (auth/delegation.py) like any change to a user: only for a user who holds
nothing the caller lacks. Revoking one for someone else is held to the same rule (the admin's
token is not for a lesser admin to cut). Every change is audited; the token itself never is.
"""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import audit
from ..auth import api_tokens, delegation, rbac
from ..auth.rbac import Principal
from ..i18n.reasons import reason
from ..storage.db import Database
from ..storage.tables import User
from . import changes
from .errors import Conflict, Forbidden, NotFound
from .fields import Int, Str

_users = User.__table__
OTHERS = "admin:users"          # seeing, making and revoking other users' tokens
MAX_DAYS = 3650
CREATE_FIELDS = {
    "name": Str(required=True, min_length=1, max_length=100, description="what the token is for, e.g. 'my IDE'"),
    "user": Str(max_length=100, description="whose token (needs admin:users); default: the caller's own"),
    "expires_in_days": Int(nullable=True, minimum=1, maximum=MAX_DAYS, description="leave out: never expires"),
}


def may_see_others(caller: Principal) -> bool:
    return rbac.check(caller, OTHERS).allowed


def listing(db: Database, caller: Principal, everyone: bool = False) -> list[dict[str, Any]]:
    """The caller's tokens, or every user's (`everyone`, for a holder of admin:users)."""
    if everyone:
        _require_others(db, caller, "tokens")
    with db.read() as conn:
        return api_tokens.listing(conn, None if everyone else caller.user_id)


def create(db: Database, caller: Principal, body: dict[str, Any]) -> dict[str, Any]:
    """Make a token; the answer holds the token itself, the only time it is shown."""
    if caller.user_id is None:
        raise Forbidden(reason("reason.api_token.no_account"))
    owner = (body.get("user") or "").strip() or caller.name
    days = body.get("expires_in_days")
    expires_at = time.time() + days * 86400 if days else None
    if owner != caller.name:
        _require_others(db, caller, f"user:{owner}")
    with changes.delegated(db, caller) as (conn, me):
        user_id = _user_id(conn, owner)
        if user_id != caller.user_id:
            _require_cover(conn, me, user_id, owner, "token_create")
        token_id, token = api_tokens.create(conn, user_id, body["name"].strip(), expires_at, changes.actor_of(caller))
        audit.record(conn, "api_token.created", changes.actor_of(caller), f"api_token:{token_id}", "ok",
                     {"user": owner, "name": body["name"].strip(), "expires_at": expires_at})
        shown = api_tokens.shown(conn, token_id)
    return {**shown, "token": token}


def revoke(db: Database, caller: Principal, token_id: int) -> dict[str, Any]:
    with changes.delegated(db, caller) as (conn, me):
        row = api_tokens.get(conn, token_id)
        if row is None or (row.user_id != caller.user_id and not may_see_others(me)):
            raise NotFound(reason("reason.api_token.missing", id=token_id))
        owner = conn.execute(sa.select(_users.c.name).where(_users.c.id == row.user_id)).scalar_one()
        if row.user_id != caller.user_id:
            _require_cover(conn, me, row.user_id, owner, "token_revoke")
        if not api_tokens.revoke(conn, token_id, changes.actor_of(caller)):
            raise Conflict(reason("reason.api_token.revoked", id=token_id))
        audit.record(conn, "api_token.revoked", changes.actor_of(caller), f"api_token:{token_id}", "ok",
                     {"user": owner, "name": row.name})
        return api_tokens.shown(conn, token_id)


def _user_id(conn: Connection, name: str) -> int:
    user_id = conn.execute(sa.select(_users.c.id).where(_users.c.name == name)).scalar()
    if user_id is None:
        raise NotFound(reason("reason.api_token.no_user", name=repr(name)), "user")
    return int(user_id)


def _require_others(db: Database, caller: Principal, target: str) -> None:
    """admin:users, or a 403 audited as any API refusal is."""
    decision = rbac.check(caller, OTHERS)
    if not decision.allowed:
        with db.write() as conn:
            audit.record(conn, "api.denied", changes.actor_of(caller), OTHERS, "denied",
                         {"reason": decision.reason, "target": target})
        raise Forbidden(decision.reason)


def _require_cover(conn: Connection, caller: Principal, user_id: int, name: str, doing: str) -> None:
    delegation.require_cover(caller, delegation.grants_of_user(conn, user_id),
                             reason(f"reason.doing.{doing}", name=repr(name)), f"user:{name}")
