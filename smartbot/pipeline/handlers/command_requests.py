"""Asking for one catalogue command, the same way from `/run`, `/<name>` and a model's tool call:
permission first, then the typed arguments, then an approval request or the run itself.

Whatever asks, the check is the asking user's permission for that command in that chat; a tool call
gets exactly what `/run` would, never more. Every refusal and every run is audited. Nothing here
reads Flask or a platform's payload, and nothing here builds a shell command line.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any, Mapping

from ...audit import AuditEvent
from ...auth import rbac
from ...auth.rbac import Principal
from ...errors import CommandRejected
from ...executor import catalogue
from ...executor.approvals import Origin
from ...executor.catalogue import CommandSpec
from ...executor.environment import OwnVariables, own_variables
from ...executor.runner import CommandResult
from ...i18n import t
from .approval_asks import ask
from .base import HandlerContext
from .command_runs import format_result, ran_event, run_spec

log = logging.getLogger(__name__)

RAN, PENDING, REFUSED = "ran", "pending", "refused"


@dataclass
class Requested:
    """What asking for one command came to: the user's text, and what to audit."""

    status: str                         # ran | pending | refused
    name: str
    text: str
    result: CommandResult | None = None
    approval_id: int | None = None
    reason: str = ""
    audit: list[AuditEvent] = field(default_factory=list)


def request_command(ctx: HandlerContext, principal: Principal, origin: Origin, name: str,
                    tokens: list[str] | None = None, named: Mapping[str, Any] | None = None,
                    via: str = "chat", request_key: str = "", max_timeout: float | None = None) -> Requested:
    """`request_key` identifies this ask (the message, and the tool call within it) so a retried
    message finds its approval request instead of making a second one. `max_timeout` shortens the
    command's own timeout (a workflow step's timeout)."""
    actor = origin.requester
    base = {"via": via, "chat": origin.chat_key}
    with ctx.db.read() as conn:
        own = own_variables(ctx.settings, conn)
        spec, problem = _lookup(conn, name, own)
    permission = spec.required_permission if spec else f"command:run:{name}" if catalogue.NAME.match(name) else ""
    if permission:
        decision = rbac.check(principal, permission, origin.chat_key)
        if not decision.allowed:
            return _refused(ctx, name, decision.reason, "command.denied", actor, {**base, "permission": permission},
                            t("denied", ctx.locale, reason=decision.reason))
    if problem:
        reason = f"its stored definition is refused ({problem}); an admin must change it"
        return _refused(ctx, name, reason, "command.rejected", actor, base,
                        t("command.rejected", ctx.locale, name=name, reason=reason))
    if spec is None or not spec.enabled:
        reason = "no such command" if spec is None else "the command is disabled"
        return _refused(ctx, name[:48], reason, "command.rejected", actor, base,
                        t("command.unknown", ctx.locale, name=name[:48]))
    try:
        values = catalogue.bind_args(spec, tokens, named)
        argv, checked = catalogue.build_argv(spec, values, ctx.settings.executor.allow_list)
    except CommandRejected as exc:
        return _refused(ctx, name, exc.reason, "command.rejected", actor, base,
                        t("command.rejected", ctx.locale, name=name, reason=exc.reason))
    shown_argv = catalogue.redacted_argv(spec, argv, checked)
    asked = AuditEvent("command.requested", actor, name, "ok", {**base, "argv": shown_argv})
    if spec.needs_approval:
        approval_id = ask(ctx, spec.name, checked, origin, via, request_key, asked)
        minutes = round(ctx.settings.approvals.expire_minutes)
        return Requested(PENDING, name, t("command.pending", ctx.locale, name=name, id=approval_id, minutes=minutes),
                         approval_id=approval_id)
    result = run_spec(ctx, spec, argv, checked, own, max_timeout)
    ran = ran_event(actor, spec, shown_argv, result, base)
    return Requested(RAN, name, format_result(ctx.locale, name, result), result=result, audit=[asked, ran])


def _lookup(conn: Any, name: str, own: OwnVariables) -> tuple[CommandSpec | None, str]:
    """The command, or why its stored definition fails today's checks (it is then refused, never run)."""
    if not catalogue.NAME.match(name):
        return None, ""
    try:
        return catalogue.get(conn, name, own), ""
    except catalogue.DefinitionError as exc:
        log.error("command %s has an unsafe stored definition (%s); it is refused", name, exc)
        return None, str(exc)


def _refused(ctx: HandlerContext, name: str, reason: str, event: str, actor: str, details: dict[str, Any],
             text: str) -> Requested:
    return Requested(REFUSED, name, text, reason=reason,
                     audit=[AuditEvent(event, actor, name, "denied", {**details, "reason": reason})])
