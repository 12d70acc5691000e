"""Admin accounts: creating one (from the command line) and checking a login, with back-off."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

from .. import audit
from ..auth import rbac
from ..auth.identities import principal_for_user
from ..auth.passwords import hash_password, verify_password, weakness
from ..db import Database
from ..errors import PermissionDenied
from ..models import Role, User, UserRole

_users, _roles, _user_roles = User.__table__, Role.__table__, UserRole.__table__
MAX_FAILURES = 5
LOCK_SECONDS = 900


class AccountError(Exception):
    pass


def create_admin(db: Database, name: str, password: str, actor: str = "cli") -> int:
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


_RECENT_FAILURES = sa.text(
    "SELECT COUNT(*) FROM audit_log WHERE actor = :name AND action = 'admin.login' AND result = 'refused' "
    "AND ts > :since AND ts > COALESCE((SELECT MAX(ts) FROM audit_log WHERE actor = :name "
    "AND action = 'admin.login' AND result = 'ok'), 0)")


class LoginGuard:
    """Locks a name out after MAX_FAILURES failed logins within LOCK_SECONDS (counted from the audit
    log, so every process and restart sees the same count), and an address after twice that (counted
    in the shared store: every node when [cache] url is Redis)."""

    def __init__(self, store: Any) -> None:
        self._store = store

    def locked(self, conn: Any, name: str, remote: str) -> bool:
        if self._store.count(f"login-failures:{remote}") >= MAX_FAILURES * 2:
            return True
        since = time.time() - LOCK_SECONDS
        return conn.execute(_RECENT_FAILURES, {"name": name[:100] or "(empty)", "since": since}).scalar() >= MAX_FAILURES

    def record(self, ok: bool, remote: str) -> None:
        if ok:
            self._store.delete(f"login-failures:{remote}")
        else:
            self._store.incr(f"login-failures:{remote}", LOCK_SECONDS)


def check_login(db: Database, name: str, password: str, remote: str, guard: LoginGuard) -> LoginResult:
    """Check a login; every attempt is audited, and the audit trail is what the lockout counts."""
    with db.read() as conn:
        if guard.locked(conn, name, remote):
            result = LoginResult(False, reason="too many failed attempts; try again later")
        else:
            row = conn.execute(sa.select(_users.c.id, _users.c.password_hash, _users.c.is_active)
                               .where(_users.c.name == name)).first()
            ok = bool(row) and row.is_active and verify_password(row.password_hash, password)
            if ok:
                try:
                    rbac.require(principal_for_user(conn, row.id, name), "admin:login")
                except PermissionDenied:
                    ok = False
            result = LoginResult(True, row.id) if ok else LoginResult(False, reason="wrong name or password")
    guard.record(result.ok, remote)
    with db.write() as conn:
        audit.record(conn, "admin.login", name[:100] or "(empty)", f"addr:{remote}",
                     "ok" if result.ok else "refused", {"reason": result.reason} if not result.ok else {})
    return result
