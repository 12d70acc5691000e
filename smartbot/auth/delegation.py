"""Delegation that cannot be widened: whoever holds `admin:users`, `admin:roles` or
`admin:workflows` may hand out, change or act as only what they hold themselves.

The one rule, for the admin API and the admin page alike (both reach it through manage/ and the
workflow schedules): a caller may grant a permission pattern, in some chats or everywhere, only
when one of its own grants contains that pattern in each of those chats; it may change a user, a
role, an identity's binding or a schedule only when it holds every right the target holds.

Containment is decided on the patterns themselves, never on a list of known names, so a pattern
that could match a permission declared later is not covered by accident. It must never allow in
doubt: a wanted grant it cannot prove contained in one of the caller's grants is refused, with a
reason that names the permission the caller lacks.
"""
from __future__ import annotations

from typing import Any, Iterable, Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..errors import PermissionDenied
from ..i18n.reasons import reason
from ..storage.tables import Role, User, UserRole
from .identities import principal_for_user
from .rbac import Grant, Principal

_users, _roles, _user_roles = User.__table__, Role.__table__, UserRole.__table__


class DelegationDenied(PermissionDenied):
    """A change refused because it would give (or touch) rights the caller does not hold; `target`
    names what the caller tried to change, for the audit row."""

    def __init__(self, permission: str, reason: str, target: str) -> None:
        super().__init__(permission, reason)
        self.target = target


def contains(have: str, want: str) -> bool:
    """Whether every permission the pattern `want` matches is matched by the pattern `have`
    (the grammar of rbac.pattern_matches: a last `*` is one or more parts, another `*` one part)."""
    if have == "*":
        return True
    if want == "*":
        return False
    h, w = have.split(":"), want.split(":")
    open_ended = w[-1] == "*"            # `want` also matches permissions longer than itself
    if h[-1] == "*":
        fixed = h[:-1]                   # `have` takes any one or more parts after these
        if len(fixed) >= len(w) or (open_ended and len(fixed) > len(w) - 1):
            return False
    else:
        if open_ended or len(h) != len(w):
            return False
        fixed = h
    return all(a == "*" or (a == b and b != "*") for a, b in zip(fixed, w))


def _scope_text(scope: Sequence[str] | None) -> str:
    return "every chat" if scope is None else ", ".join(repr(c) for c in scope) or "no chat"


def uncovered(grants: Iterable[Grant], pattern: str, chat_scope: Sequence[str] | None) -> str | None:
    """None when `grants` cover `pattern` in all of `chat_scope` (None: every chat, the admin API
    included); otherwise where they fall short ('' when nowhere at all)."""
    holding = [g for g in grants if contains(g.pattern, pattern)]
    if any(g.chat_scope is None for g in holding):
        return None
    if not holding:
        return ""
    if chat_scope is None:
        return "in every chat"
    missing = [c for c in chat_scope if not any(c in g.chat_scope for g in holding)]
    return f"in chat {missing[0]!r}" if missing else None


def require_cover(caller: Principal, wanted: Iterable[Grant], doing: str, target: str) -> None:
    """Raise DelegationDenied unless the caller holds every wanted grant where it applies."""
    for grant in wanted:
        short = uncovered(caller.grants, grant.pattern, grant.chat_scope)
        if short is not None:
            raise DelegationDenied(grant.pattern, _denied(doing, grant.pattern, grant.chat_scope, short), target)


def _denied(doing: str, pattern: str, chat_scope: Sequence[str] | None, short: str) -> str:
    """The refusal in words, for the API (English) and the page (its language): `short` is what
    uncovered() found missing."""
    if not short:
        return reason("reason.delegation.denied", doing=doing, pattern=repr(pattern))
    if chat_scope is None:
        return reason("reason.delegation.denied_everywhere", doing=doing, pattern=repr(pattern))
    return reason("reason.delegation.denied_in_chat", doing=doing, pattern=repr(pattern), chat=short[len("in chat "):])


def covers(caller: Principal, wanted: Iterable[Grant]) -> bool:
    """The boolean beside require_cover, for forms that grey out what the caller cannot grant."""
    return all(uncovered(caller.grants, g.pattern, g.chat_scope) is None for g in wanted)


def grants_of_role(row: Row[Any]) -> tuple[Grant, ...]:
    scope = tuple(row.chat_scope) if row.chat_scope is not None else None
    return tuple(Grant(p, row.name, scope) for p in row.permissions or ())


def grants_of_user(conn: Connection, user_id: int) -> tuple[Grant, ...]:
    """Every right the user's roles give, whether or not the account is active (a change may
    reactivate it)."""
    rows = conn.execute(sa.select(_roles.c.name, _roles.c.permissions, _roles.c.chat_scope)
                        .select_from(_user_roles.join(_roles, _user_roles.c.role_id == _roles.c.id))
                        .where(_user_roles.c.user_id == user_id)).all()
    return tuple(g for r in rows for g in grants_of_role(r))


def as_now(conn: Connection, caller: Principal) -> Principal:
    """The caller's rights as they are inside this transaction (not when its request began); a
    caller whose account is gone or disabled holds nothing."""
    if caller.user_id is None:
        return caller
    row = conn.execute(sa.select(_users.c.name, _users.c.is_active).where(_users.c.id == caller.user_id)).first()
    if row is None or not row.is_active:
        return Principal(caller.name, (), (), user_id=caller.user_id)
    return principal_for_user(conn, caller.user_id, row.name, caller.identity, caller.locale)


def full_admins(conn: Connection) -> int:
    """Active users who can log in with a password and hold `*` everywhere: the people who can
    repair anything. A change may not take the last of them away."""
    rows = conn.execute(sa.select(_user_roles.c.user_id, _roles.c.permissions, _roles.c.chat_scope)
                        .select_from(_user_roles.join(_roles, _user_roles.c.role_id == _roles.c.id)
                                     .join(_users, _user_roles.c.user_id == _users.c.id))
                        .where(_users.c.is_active.is_(True), _users.c.password_hash.is_not(None))).all()
    return len({r.user_id for r in rows if r.chat_scope is None and "*" in (r.permissions or ())})
