"""Audit rows for configuration changes (who changed what, with the values before and after), and
the transaction every change to users, identities, roles, workflows and schedules runs in: the
caller's rights as they are inside it, a delegation refusal audited, the last full admin kept.

It never lets a refused change commit: the refusal's audit row is written in a transaction of its
own after the change's transaction rolled back.
"""
from __future__ import annotations

import contextlib
from typing import Any, Iterator

from sqlalchemy.engine import Connection

from .. import audit
from ..audit import actors
from ..auth import delegation
from ..auth.delegation import DelegationDenied
from ..auth.rbac import Principal
from ..i18n.reasons import reason
from .errors import Conflict


def actor_of(caller: Principal) -> str:
    """How the audit log names an admin who changes something."""
    return actors.of_user(caller.name)


def record(conn: Any, actor: str, action: str, target: str, before: Any, after: Any) -> None:
    audit.record(conn, action, actor, target, "ok", {"before": before, "after": after})


@contextlib.contextmanager
def delegated(db: Any, caller: Principal) -> Iterator[tuple[Connection, Principal]]:
    """A write transaction for a change made by `caller`; yields (connection, the caller as it is
    now). A DelegationDenied raised inside is audited as `delegation.denied` and re-raised; a change
    that leaves no active user who can log in holding `*` (when there was one) is refused (409)."""
    try:
        with db.write() as conn:
            db.serialize(conn, "delegation")        # two changes checked against each other, not interleaved
            had_full_admin = delegation.full_admins(conn) > 0
            yield conn, delegation.as_now(conn, caller)
            if had_full_admin and not delegation.full_admins(conn):
                raise Conflict(reason("reason.user.last_full_admin"))
    except DelegationDenied as exc:
        with db.write() as conn:
            audit.record(conn, "delegation.denied", actor_of(caller), exc.target, "denied",
                         {"permission": exc.permission, "reason": exc.reason})
        raise
