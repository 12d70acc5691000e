"""Platform identities (channel + platform user id) and the users they are bound to.

Binding an identity gives whoever writes from it the user's rights, so a caller may bind an
identity only to a user whose every right it holds, and may unbind, move or forget an identity
only when it holds every right of the user it is bound to (auth.delegation decides)."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..auth import delegation
from ..auth.rbac import Principal
from ..i18n.reasons import reason
from ..storage.db import Database
from ..storage.tables import Identity, User
from . import changes
from .errors import Invalid, NotFound
from .fields import Int, Str

_ident, _users = Identity.__table__, User.__table__
# What binding takes, from the admin API's body or the admin page's form.
BIND_FIELDS = {"channel": Str(required=True, min_length=1, max_length=40),
               "platform_user_id": Str(required=True, min_length=1, max_length=200),
               "user_id": Int(required=True, nullable=True, minimum=1), "display_name": Str(max_length=200)}


def _view(row: Row[Any]) -> dict[str, Any]:
    return {"id": row.id, "channel": row.channel, "platform_user_id": row.platform_user_id,
            "display_name": row.display_name, "user_id": row.user_id, "created_at": row.created_at}


def list_identities(db: Database, channel: str | None = None, unbound: bool = False,
                    limit: int = 500) -> list[dict[str, Any]]:
    query = sa.select(_ident).order_by(_ident.c.id.desc()).limit(limit)
    if channel:
        query = query.where(_ident.c.channel == channel)
    if unbound:
        query = query.where(_ident.c.user_id.is_(None))
    with db.read() as conn:
        return [_view(r) for r in conn.execute(query).all()]


def _user_name(conn: Connection, user_id: int) -> str:
    name = conn.execute(sa.select(_users.c.name).where(_users.c.id == user_id)).scalar()
    if name is None:
        raise Invalid(reason("reason.user.missing", id=user_id), "user_id")
    return str(name)


def _require_cover(conn: Connection, caller: Principal, user_id: int, doing: str, target: str) -> None:
    """The caller must hold every right of the user the identity is (or would be) bound to; a
    user that no longer exists holds nothing."""
    name = conn.execute(sa.select(_users.c.name).where(_users.c.id == user_id)).scalar()
    if name is None:
        return
    delegation.require_cover(caller, delegation.grants_of_user(conn, user_id),
                             reason(doing, target=target, user=repr(name)),
                             target)


def bind(db: Database, caller: Principal, channel: str, platform_user_id: str, user_id: int | None,
         display_name: str = "") -> dict[str, Any]:
    """Bind (or create and bind) the identity to a user; user_id None unbinds it."""
    target = f"{channel}:{platform_user_id}"
    with changes.delegated(db, caller) as (conn, me):
        if user_id is not None:
            _user_name(conn, user_id)
        row = conn.execute(sa.select(_ident).where(_ident.c.channel == channel,
                                                   _ident.c.platform_user_id == platform_user_id)).first()
        if row is not None and row.user_id is not None and row.user_id != user_id:
            _require_cover(conn, me, row.user_id, "reason.doing.identity_move", target)
        if user_id is not None:
            _require_cover(conn, me, user_id, "reason.doing.identity_bind", target)
        before = _view(row) if row else None
        if row is None:
            conn.execute(sa.insert(_ident).values(channel=channel, platform_user_id=platform_user_id,
                                                  user_id=user_id, display_name=display_name,
                                                  created_at=time.time()))
        else:
            values: dict[str, Any] = {"user_id": user_id}
            if display_name:
                values["display_name"] = display_name
            conn.execute(sa.update(_ident).where(_ident.c.id == row.id).values(**values))
        after = _view(conn.execute(sa.select(_ident).where(_ident.c.channel == channel,
                                                           _ident.c.platform_user_id == platform_user_id)).one())
        changes.record(conn, changes.actor_of(caller), "identity.bind", target, before, after)
    return after


def update(db: Database, caller: Principal, identity_id: int, user_id: int | None) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(sa.select(_ident).where(_ident.c.id == identity_id)).first()
    if row is None:
        raise NotFound(reason("reason.identity.missing", id=identity_id))
    return bind(db, caller, row.channel, row.platform_user_id, user_id)


def delete(db: Database, caller: Principal, identity_id: int) -> None:
    with changes.delegated(db, caller) as (conn, me):
        row = conn.execute(sa.select(_ident).where(_ident.c.id == identity_id)).first()
        if row is None:
            raise NotFound(reason("reason.identity.missing", id=identity_id))
        target = f"{row.channel}:{row.platform_user_id}"
        if row.user_id is not None:
            _require_cover(conn, me, row.user_id, "reason.doing.identity_forget", target)
        conn.execute(sa.delete(_ident).where(_ident.c.id == identity_id))
        changes.record(conn, changes.actor_of(caller), "identity.delete", target, _view(row), None)
