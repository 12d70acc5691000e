"""Who asked for an approval, found again when it is decided and run: a chat sender
(`<channel>:<platform user id>`, resolved through their identity) or a user acting outside any
chat (`admin:<user name>`: a workflow run started from the API, a call to SmartBot's /mcp),
resolved as that user, who must still exist and be active.

No chat channel is named `admin`, so the two forms cannot be mistaken for each other.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..audit import actors
from ..storage.tables import Identity, User
from .identities import principal_for_user, resolve
from .rbac import Principal

_users, _identities = User.__table__, Identity.__table__


def _user_name(requester: str) -> str | None:
    return requester[len(actors.USER_PREFIX):] if requester.startswith(actors.USER_PREFIX) else None


def principal_of(conn: Connection, requester: str, display_name: str, default_role: str) -> Principal | None:
    """The requester with their rights now; None when they are gone (or refused, for a chat sender)."""
    name = _user_name(requester)
    if name is None:
        channel, _, platform_user = requester.partition(":")
        return resolve(conn, channel, platform_user, display_name, default_role)
    row = conn.execute(sa.select(_users.c.id, _users.c.is_active).where(_users.c.name == name)).first()
    if row is None or not row.is_active:
        return None
    return principal_for_user(conn, row.id, name)


def user_of(conn: Connection, requester: str) -> int | None:
    """The user the requester is, or is bound to (None: an unbound sender or nobody)."""
    name = _user_name(requester)
    if name is not None:
        return conn.execute(sa.select(_users.c.id).where(_users.c.name == name)).scalar()
    channel, _, platform_user = requester.partition(":")
    return conn.execute(sa.select(_identities.c.user_id).where(_identities.c.channel == channel,
                                                               _identities.c.platform_user_id == platform_user)).scalar()
