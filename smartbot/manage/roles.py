"""Roles: named sets of permission patterns, optionally limited to some chats. The four templates
(admin, operator, user, guest) can be edited or copied; the admin role and the default role of
strangers cannot be deleted.

A caller may create, change, copy or delete only roles whose permissions (in their chats) it holds
itself, before and after the change; auth.delegation decides, inside the change's transaction."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..auth import delegation, tokens
from ..auth.permissions import valid_pattern
from ..auth.rbac import Grant, Principal
from ..i18n.reasons import reason
from ..storage.db import Database
from ..storage.tables import Role, UserRole
from . import changes
from .errors import Conflict, Invalid, NotFound

_roles, _user_roles = Role.__table__, UserRole.__table__
PROTECTED = ("admin",)


def _check(data: dict[str, Any]) -> None:
    for i, pattern in enumerate(data.get("permissions") or []):
        if not valid_pattern(pattern):
            raise Invalid(reason("reason.role.unknown_permission", pattern=repr(pattern)), f"permissions[{i}]")


def _view(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    members = conn.execute(sa.select(sa.func.count()).select_from(_user_roles)
                           .where(_user_roles.c.role_id == row.id)).scalar()
    return {"id": row.id, "name": row.name, "description": row.description, "permissions": list(row.permissions or []),
            "chat_scope": row.chat_scope, "is_template": row.is_template, "source": row.source, "members": members}


def _row(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(sa.select(_roles).where(_roles.c.name == name)).first()
    if row is None:
        raise NotFound(reason("reason.role.missing", name=repr(name)))
    return row


def _editable(row: Row[Any]) -> None:
    if row.source == "config":
        raise Conflict(reason("reason.role.from_config", name=repr(row.name)))


def list_roles(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [_view(conn, r) for r in conn.execute(sa.select(_roles).order_by(_roles.c.name)).all()]


def get_role(db: Database, name: str) -> dict[str, Any]:
    with db.read() as conn:
        return _view(conn, _row(conn, name))


def _wanted(name: str, data: dict[str, Any], row: Row[Any] | None = None) -> tuple[Grant, ...]:
    """The grants the role will give after the change (its stored ones for what the change leaves)."""
    permissions = data["permissions"] if "permissions" in data else list(row.permissions or []) if row else []
    scope = data["chat_scope"] if "chat_scope" in data else row.chat_scope if row else None
    return tuple(Grant(p, name, tuple(scope) if scope is not None else None) for p in permissions or [])


def _require_cover(caller: Principal, row: Row[Any], doing: str) -> None:
    """A role may be changed only by a caller who holds everything it gives (the admin role too)."""
    delegation.require_cover(caller, delegation.grants_of_role(row),
                             reason(f"reason.doing.role_{doing}", name=repr(row.name)),
                             f"role:{row.name}")


def create_role(db: Database, caller: Principal, data: dict[str, Any]) -> dict[str, Any]:
    _check(data)
    with changes.delegated(db, caller) as (conn, me):
        if conn.execute(sa.select(_roles.c.id).where(_roles.c.name == data["name"])).first():
            raise Conflict(reason("reason.role.exists", name=repr(data['name'])), "name")
        delegation.require_cover(me, _wanted(data["name"], data),
                                 reason("reason.doing.role_permissions", name=repr(data['name'])),
                                 f"role:{data['name']}")
        now = time.time()
        conn.execute(sa.insert(_roles).values(
            name=data["name"], description=data.get("description", ""), permissions=data.get("permissions") or [],
            chat_scope=data.get("chat_scope"), is_template=False, source="db", created_at=now, updated_at=now))
        after = _view(conn, _row(conn, data["name"]))
        changes.record(conn, changes.actor_of(caller), "role.create", f"role:{data['name']}", None, after)
    return after


def update_role(db: Database, caller: Principal, name: str, data: dict[str, Any]) -> dict[str, Any]:
    _check(data)
    with changes.delegated(db, caller) as (conn, me):
        row = _row(conn, name)
        _editable(row)
        _require_cover(me, row, "change")
        delegation.require_cover(me, _wanted(name, data, row), reason("reason.doing.role_permissions", name=repr(name)),
                                 f"role:{name}")
        before = _view(conn, row)
        values = {k: data[k] for k in ("description", "permissions", "chat_scope") if k in data}
        if values:
            conn.execute(sa.update(_roles).where(_roles.c.id == row.id).values(**values, updated_at=time.time()))
        after = _view(conn, _row(conn, name))
        changes.record(conn, changes.actor_of(caller), "role.update", f"role:{name}", before, after)
    return after


def copy_role(db: Database, caller: Principal, name: str, new_name: str) -> dict[str, Any]:
    source = get_role(db, name)
    return create_role(db, caller, {"name": new_name,
                                    "description": f"copy of {name}: {source['description']}"[:500],
                                    "permissions": source["permissions"], "chat_scope": source["chat_scope"]})


def delete_role(db: Database, caller: Principal, name: str, default_role: str) -> None:
    if name in PROTECTED or name == default_role:
        raise Conflict(reason("reason.role.protected", name=repr(name)))
    with changes.delegated(db, caller) as (conn, me):
        row = _row(conn, name)
        _editable(row)
        _require_cover(me, row, "delete")
        before = _view(conn, row)
        members = conn.execute(sa.select(_user_roles.c.user_id).where(_user_roles.c.role_id == row.id)).scalars().all()
        for user_id in members:     # their roles change: their tokens end, as for any role change
            tokens.end_all_sessions(conn, user_id)
        conn.execute(sa.delete(_user_roles).where(_user_roles.c.role_id == row.id))
        conn.execute(sa.delete(_roles).where(_roles.c.id == row.id))
        changes.record(conn, changes.actor_of(caller), "role.delete", f"role:{name}", before, None)
