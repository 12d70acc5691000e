"""Asking for an approval: the request stored once per request key, and the approvers told in
their chats' language. Used by catalogue commands and MCP tools alike; deciding and running the
request is approval_flow.py's job."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ... import audit
from ...audit import AuditEvent, redact
from ...channels.support import buttons
from ...executor import approval_buttons, approvals
from ...executor.approvals import Origin
from ...gateway import outbox
from ...i18n import normalize, t
from ...messages import Reply
from ...storage.tables import Identity, User
from .base import HandlerContext

_identities, _users = Identity.__table__, User.__table__


def ask(ctx: HandlerContext, name: str, values: dict[str, Any], origin: Origin, via: str,
        request_key: str, asked: AuditEvent) -> int:
    """Store the request for `name` (a catalogue command, or mcp:<server>:<tool>) and notify the
    approvers, once per request key; returns its id."""
    ttl = ctx.settings.approvals.expire_minutes * 60
    with ctx.db.write() as conn:
        row, new = approvals.create(conn, ctx.db, request_key, name, values, origin, via, ttl)
        if new:
            audit.record_all(conn, [asked, AuditEvent("approval.requested", origin.requester, f"approval:{row.id}",
                                                      "pending", {"command": name, "args": values, "via": via})])
            args = " ".join(str(v) for v in redact(values).values())
            for n, (channel, chat_id) in enumerate(ctx.settings.approvals.targets()):
                locale = chat_locale(conn, ctx, channel, chat_id)
                text = t("approval.notice", locale, id=row.id,
                         requester=origin.requester_name or origin.requester, name=name, args=args,
                         chat=origin.chat_key)
                outbox.add(conn, [Reply(channel, chat_id, text, {"buttons": decision_buttons(ctx, row, locale)})],
                           f"approval:{row.id}:notify:{n}", f"{channel}:{chat_id}")
    return int(row.id)


def decision_buttons(ctx: HandlerContext, row: Any, locale: str) -> list[dict[str, Any]]:
    """Approve / Deny for the approvers' notice, each bound to this request by its digest."""
    digest = approval_buttons.digest(approval_buttons.button_key(ctx.settings.secret_key), row.id, row.command,
                                     row.args)
    return [buttons.button(t("approval.button.approve", locale), buttons.encode(True, row.id, digest), True),
            buttons.button(t("approval.button.deny", locale), buttons.encode(False, row.id, digest), False)]


def chat_locale(conn: Connection, ctx: HandlerContext, channel: str, chat_id: str) -> str:
    """The language of an approvers' chat: a one-person chat (its id is the person's) bound to a user
    who chose a language reads in it; any other chat in the server's default_locale."""
    chosen = conn.execute(sa.select(_users.c.locale).select_from(
        _identities.join(_users, _identities.c.user_id == _users.c.id)).where(
        _identities.c.channel == channel, _identities.c.platform_user_id == chat_id)).scalar()
    return normalize(chosen, ctx.settings.default_locale)
