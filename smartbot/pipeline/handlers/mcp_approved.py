"""Running an approved MCP tool request: checked again for the requester as they stand now (the
permission, the allow-list, the tool still listed, the arguments against its schema), then called.
approval_flow.py claims the request and stores what this returns."""
from __future__ import annotations

from typing import Any, Callable

from sqlalchemy.engine import Row

from ...audit import AuditEvent
from ...auth import identities
from ...executor import approvals
from ...executor.approvals import Origin
from ...i18n import t
from .base import HandlerContext
from .command_requests import RAN
from .mcp_calls import request_mcp

PREFIX = "mcp:"


def is_mcp(name: str) -> bool:
    return name.startswith(PREFIX)


def run_approved_mcp(ctx: HandlerContext, row: Row[Any]) -> tuple[str, dict[str, Any], list[AuditEvent],
                                                                   Callable[[str], str]]:
    """(status, result summary, audit events, the outcome's text in a given language)."""
    _, server, tool = row.command.split(":", 2)
    channel, _, platform_user = row.requester.partition(":")
    with ctx.db.read() as conn:
        requester = identities.resolve(conn, channel, platform_user, row.requester_name,
                                       ctx.settings.security.default_role)
    origin = Origin(row.requester, row.requester_name, row.channel, row.chat_id, row.reply_context or {},
                    row.locale or "")
    if requester is None:
        def gone(loc: str) -> str:
            return t("approval.not_run", loc, id=row.id, name=row.command, reason="the requester is gone")
        return approvals.FAILED, {"reason": "requester gone"}, [], gone
    asked = request_mcp(ctx, requester, origin, server, tool, row.args or {}, row.via, approved=True)
    events = [AuditEvent(e.action, e.actor, e.target, e.result, {**e.details, "approval": row.id,
                                                                  "approved_by": row.decided_by})
              for e in asked.audit]
    output = asked.outcome.text if asked.outcome is not None else ""

    def text(loc: str) -> str:
        return t("approval.result", loc, id=row.id) + "\n" + asked.text + ("\n" + output if output else "")
    summary = {"status": asked.status, "reason": asked.reason,
               "result_bytes": asked.outcome.result_bytes if asked.outcome else 0}
    ok = asked.status == RAN and asked.outcome is not None and not asked.outcome.is_error
    return (approvals.DONE if ok else approvals.FAILED), summary, events, text

