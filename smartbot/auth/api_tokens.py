"""Personal API tokens: made, checked, listed and revoked. The token is shown once; only its SHA-256
is stored (the token is 256 random bits, so a plain hash is as good as a slow one and costs
nothing per call).

A token stands for its user as the account was when it was made: it is refused once it is revoked
or expired, once the account is disabled or gone, and once the user's token generation moved on
(a password, role or active-flag change, see tokens.py), exactly like a login's tokens. It carries
no rights of its own: every call is checked against the user's rights at that moment.

Plain SQL in the caller's transaction; no Flask, and never a token in a log or an audit row.
"""
from __future__ import annotations

import hashlib
import re
import secrets
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..storage.tables import ApiToken, User
from .identities import principal_for_user
from .rbac import Principal

_tokens, _users = ApiToken.__table__, User.__table__
PREFIX = "sbt_"
SHAPE = re.compile(r"^sbt_[A-Za-z0-9_-]{43}$")
HINT_LENGTH = 10
# last_used_at is written at most this often per token: a busy client must not mean a write a call.
TOUCH_EVERY = 60.0
CREATED_SLACK_SECONDS = 5

MISSING = "the request carries no API token; send one in the Authorization header (Bearer sbt_...)"
MALFORMED = "the API token is malformed"
UNKNOWN = "the API token is not known here"
REVOKED = "the API token was revoked"
EXPIRED = "the API token has expired"
GONE = "the token's account no longer exists or is disabled"
CHANGED = "the account's password, roles or active flag changed since this token was made; make a new one"


@dataclass(frozen=True)
class TokenHolder:
    """Who a checked token stands for, with the user's rights now."""

    token_id: int
    principal: Principal
    last_used_at: float | None = None

    def stale(self, now: float) -> bool:
        """Whether its last use is old enough to be written down again (see touch)."""
        return self.last_used_at is None or self.last_used_at < now - TOUCH_EVERY


class TokenRefused(Exception):
    """A token that does not stand for anyone (now); `reason` says why, never the token."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return PREFIX + secrets.token_urlsafe(32)


def create(conn: Connection, user_id: int, name: str, expires_at: float | None, created_by: str) -> tuple[int, str]:
    """Store a new token for `user_id`; (its id, the token), the token for showing once."""
    generation = conn.execute(sa.select(_users.c.token_generation).where(_users.c.id == user_id)).scalar_one()
    token = new_token()
    token_id = conn.execute(sa.insert(_tokens).values(
        user_id=user_id, name=name, token_hash=digest(token), hint=token[:HINT_LENGTH], generation=generation,
        created_by=created_by, created_at=time.time(), expires_at=expires_at, last_used_at=None,
        revoked_at=None, revoked_by="").returning(_tokens.c.id)).scalar_one()
    return int(token_id), token


def authenticate(conn: Connection, bearer: str, now: float | None = None) -> TokenHolder:
    """The holder of `bearer` (the token from an Authorization header), or TokenRefused."""
    if not bearer:
        raise TokenRefused(MISSING)
    if not SHAPE.match(bearer):
        raise TokenRefused(MALFORMED)
    now = time.time() if now is None else now
    row = conn.execute(_with_user(sa.select(_tokens)).where(_tokens.c.token_hash == digest(bearer))).first()
    problem = _problem(row, now)
    if problem:
        raise TokenRefused(problem)
    return TokenHolder(row.id, principal_for_user(conn, row.user_id, row.user_name), row.last_used_at)


def _with_user(query: sa.Select) -> sa.Select:
    return query.add_columns(_users.c.name.label("user_name"), _users.c.is_active, _users.c.token_generation,
                             _users.c.created_at.label("user_created_at")) \
        .select_from(_tokens.join(_users, _tokens.c.user_id == _users.c.id))


def _problem(row: Row[Any] | None, now: float) -> str:
    if row is None:
        return UNKNOWN
    if row.revoked_at is not None:
        return REVOKED
    if row.expires_at is not None and row.expires_at <= now:
        return EXPIRED
    # A token made before its user row was belongs to an earlier user with the same id (SQLite
    # reuses the highest id after a delete); the slack covers the clocks of different nodes.
    if not row.is_active or row.created_at < row.user_created_at - CREATED_SLACK_SECONDS:
        return GONE
    if row.generation != row.token_generation:
        return CHANGED
    return ""


def touch(conn: Connection, token_id: int, now: float) -> None:
    """Note that the token was used (callers ask TokenHolder.stale first: not a write per call)."""
    conn.execute(sa.update(_tokens).where(_tokens.c.id == token_id).values(last_used_at=now))


def get(conn: Connection, token_id: int) -> Row[Any] | None:
    return conn.execute(sa.select(_tokens).where(_tokens.c.id == token_id)).first()


def listing(conn: Connection, user_id: int | None = None) -> list[dict[str, Any]]:
    """Tokens (every user's when `user_id` is None), newest first, with their state; never a hash."""
    query = _with_user(sa.select(_tokens)).order_by(_tokens.c.id.desc())
    if user_id is not None:
        query = query.where(_tokens.c.user_id == user_id)
    now = time.time()
    return [view(row, now) for row in conn.execute(query).all()]


def shown(conn: Connection, token_id: int) -> dict[str, Any]:
    """One token as listing() shows it."""
    return view(conn.execute(_with_user(sa.select(_tokens)).where(_tokens.c.id == token_id)).one(), time.time())


# What listing() says of each token (also the admin page's catalogue keys: admin.tokens.state.<state>).
_STATES = {"": "active", REVOKED: "revoked", EXPIRED: "expired", GONE: "disabled", CHANGED: "changed", UNKNOWN: ""}


def view(row: Row[Any], now: float) -> dict[str, Any]:
    return {"id": row.id, "user": row.user_name, "name": row.name, "hint": row.hint + "...",
            "created_at": row.created_at, "created_by": row.created_by, "expires_at": row.expires_at,
            "last_used_at": row.last_used_at, "revoked_at": row.revoked_at, "revoked_by": row.revoked_by,
            "state": _STATES[_problem(row, now)]}


def revoke(conn: Connection, token_id: int, revoked_by: str) -> bool:
    """Revoke a token; False when it was revoked already. Its MCP sessions end with it: every
    request checks the token again."""
    return conn.execute(sa.update(_tokens).where(_tokens.c.id == token_id, _tokens.c.revoked_at.is_(None))
                        .values(revoked_at=time.time(), revoked_by=revoked_by)).rowcount == 1
