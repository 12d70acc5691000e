"""The `builtin` action: /help, /whoami, /reset, /profile; and /human, /reply, /release, which
hand a conversation to a person (handoff.py)."""
from __future__ import annotations

from ...audit import AuditEvent
from ...auth.rbac import Principal
from ...i18n import t
from ...messages import InboundMessage
from ...router import Route
from ...router.builtins import BUILTINS, profile_text
from ..outcome import Outcome
from .base import HandlerContext
from .handoff import agent, human

# Built-ins that act on the conversation (they write and notify), not only answer.
ACTING = {"human": human, "agent": agent}


def handle_builtin(ctx: HandlerContext, msg: InboundMessage, principal: Principal, route: Route) -> Outcome:
    name = str(route.params.get("name") or (route.command.name if route.command else ""))
    if name in ACTING:
        return ACTING[name](ctx, msg, principal, route)
    if name == "profile":
        return Outcome(texts=[profile_text(ctx.profile, ctx.locale)])
    builtin = BUILTINS.get(name)
    if builtin is None:
        return Outcome(texts=[t("action.unavailable", ctx.locale)], result="error")
    answer = builtin(principal, ctx.locale, ctx.settings.bot_name)
    outcome = Outcome(texts=[answer.text], reset_memory=answer.reset_memory)
    if answer.reset_memory:
        outcome.audit.append(AuditEvent("conversation.reset", principal.identity, msg.conversation_key))
    return outcome
