"""Users: accounts with roles; admins log in with a password, everyone else through a platform
identity bound to their user.

Every change is made by a caller (a Principal) and checked by auth.delegation inside its
transaction: roles handed out must give only what the caller holds, and a user who holds more than
the caller (the admin, say) cannot be changed, disabled or deleted by it."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..auth import delegation, tokens
from ..auth.passwords import hash_password, weakness
from ..auth.rbac import Grant, Principal, pattern_matches
from ..i18n.reasons import reason
from ..storage.db import Database
from ..storage.tables import Identity, Role, User, UserRole
from . import changes
from .errors import Conflict, Invalid, NotFound

_users, _roles, _user_roles, _ident = User.__table__, Role.__table__, UserRole.__table__, Identity.__table__


def _roles_of(conn: Connection, user_id: int) -> list[str]:
    return list(conn.execute(sa.select(_roles.c.name).select_from(_user_roles.join(_roles))
                             .where(_user_roles.c.user_id == user_id).order_by(_roles.c.name)).scalars())


def _view(conn: Connection, row: Row[Any]) -> dict[str, Any]:
    idents = conn.execute(sa.select(_ident.c.id, _ident.c.channel, _ident.c.platform_user_id)
                          .where(_ident.c.user_id == row.id).order_by(_ident.c.id)).all()
    return {"id": row.id, "name": row.name, "display_name": row.display_name, "is_active": row.is_active,
            "locale": row.locale, "has_password": bool(row.password_hash), "roles": _roles_of(conn, row.id),
            "identities": [{"id": i.id, "channel": i.channel, "platform_user_id": i.platform_user_id} for i in idents]}


def list_users(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [_view(conn, r) for r in conn.execute(sa.select(_users).order_by(_users.c.name)).all()]


def get_user(db: Database, user_id: int) -> dict[str, Any]:
    with db.read() as conn:
        return _view(conn, _row(conn, user_id))


def _row(conn: Connection, user_id: int) -> Row[Any]:
    row = conn.execute(sa.select(_users).where(_users.c.id == user_id)).first()
    if row is None:
        raise NotFound(reason("reason.user.missing", id=user_id))
    return row


def _role_grants(conn: Connection, roles: list[str]) -> dict[str, tuple[Grant, ...]]:
    """The rights each named role gives; Invalid when one does not exist."""
    rows = {r.name: r for r in conn.execute(sa.select(_roles).where(_roles.c.name.in_(roles))).all()}
    missing = sorted(set(roles) - set(rows))
    if missing:
        raise Invalid(reason("reason.user.unknown_roles", names=', '.join(missing)), "roles")
    return {name: delegation.grants_of_role(row) for name, row in rows.items()}


def _grantable(conn: Connection, caller: Principal, roles: list[str], target: str) -> None:
    """Every role handed out must give only what the caller holds itself."""
    for name, grants in sorted(_role_grants(conn, roles).items()):
        delegation.require_cover(caller, grants, reason("reason.doing.role_grant", name=repr(name)), target)


def _changeable(conn: Connection, caller: Principal, row: Row[Any], doing: str) -> None:
    """A user may be changed only by a caller who holds every right the user holds (the admin too)."""
    delegation.require_cover(caller, delegation.grants_of_user(conn, row.id),
                             reason(f"reason.doing.user_{doing}", name=repr(row.name)),
                             f"user:{row.name}")


def _set_roles(conn: Connection, user_id: int, roles: list[str]) -> None:
    found = dict(conn.execute(sa.select(_roles.c.name, _roles.c.id).where(_roles.c.name.in_(roles))).all())
    conn.execute(sa.delete(_user_roles).where(_user_roles.c.user_id == user_id))
    if roles:
        conn.execute(sa.insert(_user_roles), [{"user_id": user_id, "role_id": found[r]} for r in sorted(set(roles))])


def _check_password(password: str, name: str) -> str:
    problem = weakness(password, name)
    if problem:
        raise Invalid(reason("reason.password.weak", problem=problem), "password")
    return hash_password(password)


def create_user(db: Database, caller: Principal, data: dict[str, Any]) -> dict[str, Any]:
    name = data["name"].strip()
    if not name:
        raise Invalid(reason("reason.field.not_empty"), "name")
    roles = data.get("roles") or []
    with changes.delegated(db, caller) as (conn, me):
        if conn.execute(sa.select(_users.c.id).where(_users.c.name == name)).first():
            raise Conflict(reason("reason.user.exists", name=repr(name)), "name")
        _grantable(conn, me, roles, f"user:{name}")
        now = time.time()
        password = data.get("password")
        user_id = conn.execute(sa.insert(_users).values(
            name=name, display_name=data.get("display_name") or name,
            password_hash=_check_password(password, name) if password else None,
            is_active=data.get("is_active", True), locale=data.get("locale") or "", created_at=now, updated_at=now,
        ).returning(_users.c.id)).scalar_one()
        _set_roles(conn, user_id, roles)
        after = _view(conn, _row(conn, user_id))
        changes.record(conn, changes.actor_of(caller), "user.create", f"user:{name}", None, after)
    return after


def update_user(db: Database, caller: Principal, user_id: int, data: dict[str, Any]) -> dict[str, Any]:
    with changes.delegated(db, caller) as (conn, me):
        row = _row(conn, user_id)
        _changeable(conn, me, row, "change")
        if "roles" in data:
            _grantable(conn, me, data["roles"], f"user:{row.name}")
        before = _view(conn, row)
        values: dict[str, Any] = {k: data[k] for k in ("display_name", "is_active", "locale") if k in data}
        if data.get("password"):
            values["password_hash"] = _check_password(data["password"], row.name)
        if values:
            values["updated_at"] = time.time()
            conn.execute(sa.update(_users).where(_users.c.id == user_id).values(**values))
        if "roles" in data:
            _set_roles(conn, user_id, data["roles"])
        _keep_an_admin(conn)
        after = _view(conn, _row(conn, user_id))
        tokens.after_user_change(conn, user_id, before, after, bool(data.get("password")))
        changes.record(conn, changes.actor_of(caller), "user.update", f"user:{row.name}", before,
                       {**after, "password_changed": "password" in values or bool(data.get("password"))})
    return after


def delete_user(db: Database, caller: Principal, user_id: int) -> None:
    if caller.user_id == user_id:
        raise Conflict(reason("reason.user.delete_self"))
    with changes.delegated(db, caller) as (conn, me):
        row = _row(conn, user_id)
        _changeable(conn, me, row, "delete")
        before = _view(conn, row)
        conn.execute(sa.update(_ident).where(_ident.c.user_id == user_id).values(user_id=None))
        conn.execute(sa.delete(_user_roles).where(_user_roles.c.user_id == user_id))
        conn.execute(sa.delete(_users).where(_users.c.id == user_id))
        _keep_an_admin(conn)
        changes.record(conn, changes.actor_of(caller), "user.delete", f"user:{row.name}", before, None)


def _keep_an_admin(conn: Connection) -> None:
    """Refuse a change that would leave nobody able to administer SmartBot."""
    rows = conn.execute(sa.select(_roles.c.permissions).select_from(_user_roles.join(_roles).join(_users))
                        .where(_users.c.is_active.is_(True), _users.c.password_hash.is_not(None))).all()
    if not any(pattern_matches(p, "admin:login") for r in rows for p in (r.permissions or ())):
        raise Conflict(reason("reason.user.last_admin"))
