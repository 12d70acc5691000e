"""Ending every token a user holds: the user's token generation.

Every token (access and refresh) carries the generation of its user at login in its `gen` claim;
the API's token check compares it with the user row it reads anyway. Raising the generation
therefore refuses every token issued before, on every node at once, with no list of tokens to
keep. It is raised when what a token stands for changes: the password (whoever had the old one
may have logged in with it), a deactivation (re-activating must not bring old sessions back), or
the user's roles.

Plain SQL in the caller's transaction; no Flask here, and never a token or a password.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from ..storage.tables import User

_users = User.__table__


def end_all_sessions(conn: Any, user_id: int) -> None:
    """Refuse every token `user_id` holds, from now on (inside the change's transaction)."""
    conn.execute(sa.update(_users).where(_users.c.id == user_id)
                 .values(token_generation=_users.c.token_generation + 1))


def after_user_change(conn: Any, user_id: int, before: dict[str, Any], after: dict[str, Any],
                      password_changed: bool) -> bool:
    """End the user's sessions when a change touched their password, active flag (turned off) or
    roles; `before`/`after` are the user's views ("is_active", "roles"). True when it did."""
    deactivated = bool(before.get("is_active")) and not after.get("is_active")
    roles_changed = sorted(before.get("roles") or ()) != sorted(after.get("roles") or ())
    if password_changed or deactivated or roles_changed:
        end_all_sessions(conn, user_id)
        return True
    return False
