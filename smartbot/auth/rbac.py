"""The one permission check. Deny by default; every decision carries its reason.

Patterns are colon-separated; `*` as the last part matches one or more remaining parts, elsewhere
exactly one part; a bare `*` matches everything. `check()` returns a Decision for templates and
menus; `require()` raises PermissionDenied for views, the router and the executor.
"""
from __future__ import annotations

from dataclasses import dataclass, field

from ..errors import PermissionDenied
from ..i18n.reasons import reason
from .permissions import is_declared


@dataclass(frozen=True)
class Grant:
    """A permission pattern from one role, limited to that role's chats when it has a scope."""

    pattern: str
    role: str
    chat_scope: tuple[str, ...] | None = None

    def applies_to(self, chat_key: str) -> bool:
        return self.chat_scope is None or chat_key in self.chat_scope


@dataclass(frozen=True)
class Principal:
    """Who is asking: a bound user, or a platform sender with the default role."""

    name: str
    roles: tuple[str, ...]
    grants: tuple[Grant, ...]
    user_id: int | None = None
    identity: str = ""          # channel:platform_user_id
    locale: str = ""

    @property
    def role_label(self) -> str:
        return ", ".join(self.roles) or "none"


@dataclass(frozen=True)
class Decision:
    allowed: bool
    reason: str
    permission: str = ""
    matched: str = field(default="")


def pattern_matches(pattern: str, permission: str) -> bool:
    if pattern == "*":
        return True
    want = permission.split(":")
    have = pattern.split(":")
    for i, part in enumerate(have):
        last = i == len(have) - 1
        if part == "*" and last:
            return len(want) > i
        if i >= len(want):
            return False
        if part != "*" and part != want[i]:
            return False
    return len(have) == len(want)


def check(principal: Principal, permission: str, chat_key: str = "") -> Decision:
    if not is_declared(permission):
        raise ValueError(f"permission {permission!r} is not declared in auth/permissions.py")
    scoped_out = False
    for grant in principal.grants:
        if not pattern_matches(grant.pattern, permission):
            continue
        if not grant.applies_to(chat_key):
            scoped_out = True
            continue
        return Decision(True, f"granted by {grant.pattern!r} (role {grant.role})", permission, grant.pattern)
    if scoped_out:
        return Decision(False, reason("reason.permission.other_chats", permission=repr(permission)), permission)
    roles = principal.role_label if principal.roles else reason("reason.permission.no_roles")
    return Decision(False, reason("reason.permission.lacking", roles=roles, permission=repr(permission)), permission)


def require(principal: Principal, permission: str, chat_key: str = "") -> Decision:
    decision = check(principal, permission, chat_key)
    if not decision.allowed:
        raise PermissionDenied(permission, decision.reason)
    return decision
