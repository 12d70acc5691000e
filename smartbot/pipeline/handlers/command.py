"""The `command` action: `/run <name> [args]`, `/<name> [args]` (when the rule's params say
`shortcuts`), `/commands`, and `/approve <id>` / `/deny <id>`.

Arguments are split into tokens (quotes group words) and each token becomes at most one argv
element after its parameter's checks; nothing is ever handed to a shell.
"""
from __future__ import annotations

from ...audit import AuditEvent
from ...auth import rbac
from ...auth.rbac import Principal
from ...errors import CommandRejected
from ...executor import catalogue
from ...executor.approvals import Origin
from ...executor.environment import own_variables
from ...i18n import t
from ...messages import InboundMessage
from ..outcome import Outcome
from ...router import Route
from .approval_flow import decide
from .base import HandlerContext
from .command_requests import PENDING, RAN, request_command


def origin_of(msg: InboundMessage, principal: Principal, locale: str = "") -> Origin:
    """`locale`: the language the asker is answered in now, kept for what they are told later."""
    return Origin(principal.identity or f"{msg.channel}:{msg.user_id}", principal.name, msg.channel, msg.chat_id,
                  dict(msg.reply_context), locale)


def handle_command(ctx: HandlerContext, msg: InboundMessage, principal: Principal, route: Route) -> Outcome:
    parsed = route.command
    if parsed is None:
        return Outcome(texts=[t("command.usage", ctx.locale)], result="error")
    if parsed.name == "commands":
        return Outcome(texts=[_listing(ctx, principal, msg.chat_key)])
    if parsed.name in ("approve", "deny"):
        return _decide(ctx, msg, principal, parsed.name == "approve", parsed.args)
    origin = origin_of(msg, principal, ctx.locale)
    try:
        tokens = catalogue.parse_chat_args(parsed.args)
    except CommandRejected as exc:
        return Outcome(texts=[t("command.rejected", ctx.locale, name=parsed.name, reason=exc.reason)], result="denied",
                       audit=[AuditEvent("command.rejected", origin.requester, parsed.name, "denied",
                                         {"reason": exc.reason, "via": "chat", "chat": origin.chat_key})])
    if parsed.name == "run":
        if not tokens:
            return Outcome(texts=[t("command.usage", ctx.locale)], result="error")
        name, tokens = tokens[0], tokens[1:]
    elif route.params.get("shortcuts"):
        name = parsed.name
    else:
        return Outcome(texts=[t("command.usage", ctx.locale)], result="error")
    asked = request_command(ctx, principal, origin, name.lower(), tokens=tokens, via="chat",
                            request_key=f"{msg.channel}:{msg.event_id}")
    result = "ok" if asked.status == RAN and asked.result and asked.result.ok else \
        "pending" if asked.status == PENDING else "error" if asked.status == RAN else "denied"
    return Outcome(texts=[asked.text], audit=asked.audit, result=result)


def _decide(ctx: HandlerContext, msg: InboundMessage, principal: Principal, approve: bool, args: str) -> Outcome:
    text = args.strip().lstrip("#")
    if not text.isascii() or not text.isdigit() or len(text) > 12:
        return Outcome(texts=[t("approval.usage", ctx.locale)], result="error")
    verdict = decide(ctx, principal, msg.chat_key, int(text), approve)
    return Outcome(texts=[verdict.text], audit=verdict.audit, result="denied" if verdict.audit else "ok")


def _listing(ctx: HandlerContext, principal: Principal, chat_key: str) -> str:
    with ctx.db.read() as conn:
        specs = catalogue.all_commands(conn, enabled_only=True, own=own_variables(ctx.settings, conn))
    allowed = [s for s in specs if rbac.check(principal, s.required_permission, chat_key).allowed]
    if not allowed:
        return t("command.list_empty", ctx.locale)
    lines = [t("command.list", ctx.locale)]
    for spec in allowed:
        note = " " + t("command.needs_approval", ctx.locale) if spec.needs_approval else ""
        lines.append(f"{spec.usage()} - {spec.description}{note}")
    return "\n".join(lines)
