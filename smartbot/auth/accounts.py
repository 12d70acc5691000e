"""Admin accounts: creating one (from the command line) and checking a login, with back-off.

Shared by the admin API's login and the admin page's; plain data in and out, never Flask here."""
from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa

from .. import audit
from ..audit import actors
from ..storage.db import Database
from ..errors import PermissionDenied
from ..storage.tables import Role, User, UserRole
from . import rbac
from .identities import principal_for_user
from .login_guard import LoginGuard
from .passwords import hash_password, verify_password, weakness

_users, _roles, _user_roles = User.__table__, Role.__table__, UserRole.__table__


class AccountError(Exception):
    pass


def create_admin(db: Database, name: str, password: str, actor: str = actors.COMMAND_LINE) -> int:
    problem = weakness(password, name)
    if problem:
        raise AccountError(f"password too weak: {problem}")
    if not name or len(name) > 100:
        raise AccountError("the name must be 1-100 characters")
    with db.write() as conn:
        if conn.execute(sa.select(_users.c.id).where(_users.c.name == name)).first():
            raise AccountError(f"a user named {name!r} already exists")
        role_id = conn.execute(sa.select(_roles.c.id).where(_roles.c.name == "admin")).scalar()
        if role_id is None:
            raise AccountError("the admin role is missing; run `smartbot db upgrade`")
        now = time.time()
        user_id = conn.execute(sa.insert(_users).values(
            name=name, display_name=name, password_hash=hash_password(password), is_active=True, locale="",
            created_at=now, updated_at=now).returning(_users.c.id)).scalar_one()
        conn.execute(sa.insert(_user_roles).values(user_id=user_id, role_id=role_id))
        audit.record(conn, "admin.created", actor, f"user:{name}", "ok", {"roles": ["admin"]})
    return int(user_id)


def has_admin(db: Database) -> bool:
    with db.read() as conn:
        return conn.execute(
            sa.select(sa.func.count()).select_from(_user_roles.join(_roles, _user_roles.c.role_id == _roles.c.id))
            .where(_roles.c.name == "admin")).scalar() > 0


@dataclass
class LoginResult:
    ok: bool
    user_id: int | None = None
    reason: str = ""
    generation: int = 0           # the user's token generation, for the tokens of this login
    retry_after: int = 0          # > 0: this address must wait that many seconds (answer 429)


def check_login(db: Database, name: str, password: str, remote: str, guard: LoginGuard) -> LoginResult:
    """Check a login; every attempt is audited. An address that failed too often waits (see
    login_guard.py). An unknown name, a user without a password and a disabled one cost the same
    password hash as a real one, so the time a login takes does not tell which names exist."""
    name = name[:100]
    with db.read() as conn:
        wait = guard.wait(conn, name, remote)
        if wait:
            result = _locked_out(wait)
        else:
            row = conn.execute(sa.select(_users.c.id, _users.c.password_hash, _users.c.is_active,
                                         _users.c.token_generation).where(_users.c.name == name)).first()
            usable = row is not None and row.is_active
            ok = verify_password(row.password_hash if usable else None, password)
            if ok:
                try:
                    rbac.require(principal_for_user(conn, row.id, name), "admin:login")
                except PermissionDenied:
                    ok = False
            result = LoginResult(True, row.id, generation=row.token_generation) if ok else \
                LoginResult(False, reason="wrong name or password")
    with db.write() as conn:
        if not result.retry_after:
            locked = guard.record(conn, db, name, remote, result.ok)
            if locked:
                result = _locked_out(locked, f"{result.reason}; ")
        audit.record(conn, "admin.login", actors.of_user(name), f"addr:{remote}",
                     "ok" if result.ok else "refused", {"reason": result.reason} if not result.ok else {})
    return result


def _locked_out(seconds: int, before: str = "") -> LoginResult:
    return LoginResult(False, reason=f"{before}too many failed attempts from this address; try again in {seconds} s",
                       retry_after=seconds)
