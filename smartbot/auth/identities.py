"""Platform senders: resolve one to a Principal (a bound user with their roles, or the default
role), and remember a sender the first time they write, so an admin can find and bind them."""
from __future__ import annotations

import functools
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..storage.db import dialect_insert
from ..storage.tables import Identity, Role, User, UserRole
from .rbac import Grant, Principal

_ident, _users, _roles, _user_roles = Identity.__table__, User.__table__, Role.__table__, UserRole.__table__
# Every chat turn resolves its sender: the statements are built once (building one per call, with
# its cache key, cost more CPU than running it).
_USER_OF_IDENTITY = (sa.select(_users.c.id, _users.c.name, _users.c.is_active, _users.c.locale)
                     .select_from(_ident.join(_users, _ident.c.user_id == _users.c.id))
                     .where(_ident.c.channel == sa.bindparam("channel"),
                            _ident.c.platform_user_id == sa.bindparam("platform_user_id")))
_ROLE = (sa.select(_roles.c.name, _roles.c.permissions, _roles.c.chat_scope)
         .where(_roles.c.name == sa.bindparam("name")))
_ROLES_OF_USER = (sa.select(_roles.c.name, _roles.c.permissions, _roles.c.chat_scope)
                  .select_from(_user_roles.join(_roles, _user_roles.c.role_id == _roles.c.id))
                  .where(_user_roles.c.user_id == sa.bindparam("user_id")).order_by(_roles.c.name))


@functools.cache
def _remember(dialect: str) -> Any:
    """Written with every handled message: an INSERT that leaves a known sender's row as it is
    (built once per dialect)."""
    return dialect_insert(dialect)(_ident).values(channel=sa.bindparam("channel"), platform_user_id=sa.bindparam("platform_user_id"),
                                 display_name=sa.bindparam("display_name"),
                                 created_at=sa.bindparam("now")).on_conflict_do_nothing()

NAME_LENGTH = 200


def resolve(conn: Connection, channel: str, platform_user_id: str, display_name: str,
            default_role: str, locale: str = "") -> Principal | None:
    """None means refused: the sender is unknown and no default role is configured (allowlist mode)."""
    identity = f"{channel}:{platform_user_id}"
    row = conn.execute(_USER_OF_IDENTITY, {"channel": channel, "platform_user_id": platform_user_id}).first()
    if row is not None and row.is_active:
        return principal_for_user(conn, row.id, row.name, identity, row.locale or locale)
    if not default_role:
        return None
    rows = conn.execute(_ROLE, {"name": default_role}).all()
    return Principal(name=display_name or platform_user_id, roles=(default_role,), grants=_grants(rows),
                     identity=identity, locale=locale)


def principal_for_user(conn: Connection, user_id: int, name: str, identity: str = "",
                       locale: str = "") -> Principal:
    rows = conn.execute(_ROLES_OF_USER, {"user_id": user_id}).all()
    return Principal(name=name, roles=tuple(r.name for r in rows), grants=_grants(rows), user_id=user_id,
                     identity=identity, locale=locale)


def _grants(rows: list) -> tuple[Grant, ...]:
    return tuple(Grant(pattern, r.name, tuple(r.chat_scope) if r.chat_scope is not None else None)
                 for r in rows for pattern in (r.permissions or ()))


def remember_sender(conn: Connection, channel: str, platform_user_id: str, display_name: str,
                    now: float | None = None) -> None:
    """Keep an identity row for a sender seen for the first time (unbound: the default role);
    a sender already known is left as they are."""
    conn.execute(_remember(conn.dialect.name), {
        "channel": channel, "platform_user_id": platform_user_id, "display_name": display_name[:NAME_LENGTH],
        "now": time.time() if now is None else now})
