"""Who `smartbot chat` talks as.

A sender in the terminal is an identity of the `cli` channel, resolved like any platform's sender:
bound to a user, it has that user's roles; unbound, the default role. `smartbot chat --user olga`
talks as the user olga through her terminal identity, and binds `cli:olga` to her the first time,
through manage.identities, so the binding is audited as one made in the admin page is. Whoever
runs the command holds the server's key and database already: binding adds no right they lack.
It never binds an identity that belongs to another user.
"""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from ..auth.rbac import Grant, Principal
from ..channels.terminal import TerminalChannel
from ..i18n.reasons import reason
from ..storage.db import Database
from ..storage.tables import Identity, User
from . import identities
from .errors import Conflict

CHANNEL = TerminalChannel.name
# The person at the server's terminal, as the audit log names them.
OPERATOR = Principal("cli", ("*",), (Grant("*", "cli"),))
_ident, _users = Identity.__table__, User.__table__


@dataclass(frozen=True)
class TerminalSender:
    platform_user_id: str
    user: str = ""              # the user it talks as ("": none, the default role)
    bound_now: bool = False     # this call bound the terminal identity to `user`
    no_such_user: bool = False  # --user named a user who does not exist


def sender(db: Database, name: str, as_user: bool) -> TerminalSender:
    """The terminal sender for `name`; with `as_user`, the user of that name (bound on first use)."""
    with db.read() as conn:
        user = conn.execute(sa.select(_users.c.id, _users.c.is_active).where(_users.c.name == name)).first()
        own = None if user is None else conn.execute(
            sa.select(_ident.c.platform_user_id).where(_ident.c.channel == CHANNEL, _ident.c.user_id == user.id)
            .order_by(_ident.c.id)).scalar()
        holder = conn.execute(sa.select(_users.c.name).select_from(_ident.join(_users, _ident.c.user_id == _users.c.id))
                              .where(_ident.c.channel == CHANNEL, _ident.c.platform_user_id == name)).scalar()
    if not as_user:
        return TerminalSender(name, holder or "")
    if user is None:
        return TerminalSender(name, no_such_user=True)
    if not user.is_active:
        raise Conflict(reason("reason.terminal.user_disabled", name=name))
    if own is not None:
        return TerminalSender(own, name)
    if holder is not None:
        raise Conflict(reason("reason.terminal.identity_taken", channel=CHANNEL, name=name, holder=holder))
    identities.bind(db, OPERATOR, CHANNEL, name, user.id, display_name=name)
    return TerminalSender(name, name, bound_now=True)
