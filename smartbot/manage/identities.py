"""Platform identities (channel + platform user id) and the users they are bound to."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from ..db import Database
from ..models import Identity, User
from . import changes
from .errors import Invalid, NotFound

_ident, _users = Identity.__table__, User.__table__


def _view(row: Any) -> dict[str, Any]:
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


def _require_user(conn: Any, user_id: int | None) -> None:
    if user_id is not None and conn.execute(sa.select(_users.c.id).where(_users.c.id == user_id)).first() is None:
        raise Invalid(f"no user with id {user_id}", "user_id")


def bind(db: Database, actor: str, channel: str, platform_user_id: str, user_id: int | None,
         display_name: str = "") -> dict[str, Any]:
    """Bind (or create and bind) the identity to a user; user_id None unbinds it."""
    with db.write() as conn:
        _require_user(conn, user_id)
        row = conn.execute(sa.select(_ident).where(_ident.c.channel == channel,
                                                   _ident.c.platform_user_id == platform_user_id)).first()
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
        changes.record(conn, actor, "identity.bind", f"{channel}:{platform_user_id}", before, after)
    return after


def update(db: Database, actor: str, identity_id: int, user_id: int | None) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(sa.select(_ident).where(_ident.c.id == identity_id)).first()
    if row is None:
        raise NotFound(f"no identity with id {identity_id}")
    return bind(db, actor, row.channel, row.platform_user_id, user_id)


def delete(db: Database, actor: str, identity_id: int) -> None:
    with db.write() as conn:
        row = conn.execute(sa.select(_ident).where(_ident.c.id == identity_id)).first()
        if row is None:
            raise NotFound(f"no identity with id {identity_id}")
        conn.execute(sa.delete(_ident).where(_ident.c.id == identity_id))
        changes.record(conn, actor, "identity.delete", f"{row.channel}:{row.platform_user_id}", _view(row), None)
