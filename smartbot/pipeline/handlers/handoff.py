"""The chat side of hand-offs: the rule action `handoff` and `/human` (the customer asks for a
person), and an agent's `/reply <id> text` and `/release <id>` from their own chat. Agents need
`handoff:answer`; a refusal is told and audited. The work is handoff_flow.py's."""
from __future__ import annotations

from ...audit import AuditEvent
from ...auth import rbac
from ...auth.rbac import Principal
from ...gateway import outbox
from ...i18n import t
from ...messages import InboundMessage
from ...router import Route
from ..outcome import Outcome
from . import handoff_flow
from .base import HandlerContext

MAX_REPLY_CHARS = 4000
PERMISSION = "handoff:answer"


def handle_handoff(ctx: HandlerContext, msg: InboundMessage, principal: Principal, route: Route) -> Outcome:
    """The rule action: this message asks for a person."""
    return handoff_flow.request(ctx, msg, principal, f"rule:{route.rule}")


def human(ctx: HandlerContext, msg: InboundMessage, principal: Principal, route: Route) -> Outcome:
    return handoff_flow.request(ctx, msg, principal, "human")


def agent(ctx: HandlerContext, msg: InboundMessage, principal: Principal, route: Route) -> Outcome:
    """/reply <id> <text> and /release <id>, from an agent's chat."""
    command = route.command
    name = command.name if command else ""
    head, _, text = (command.args if command else "").partition(" ")
    number = head.strip().lstrip("#")
    text = text.strip()
    if name not in ("reply", "release") or not number.isascii() or not number.isdigit() or len(number) > 12 \
            or (name == "reply" and not text):
        return Outcome(texts=[t("handoff.usage", ctx.locale)], result="error")
    handoff_id = int(number)
    decision = rbac.check(principal, PERMISSION, msg.chat_key)
    if not decision.allowed:
        return Outcome(texts=[t("denied", ctx.locale, reason=decision.reason)], result="denied",
                       audit=[AuditEvent("handoff.refused", principal.identity, f"handoff:{handoff_id}", "denied",
                                         {"reason": decision.reason, "via": "chat", "event_id": msg.event_id})])
    if len(text) > MAX_REPLY_CHARS:
        return Outcome(texts=[t("handoff.too_long", ctx.locale, n=MAX_REPLY_CHARS)], result="error")
    if name == "reply":
        status, ids = handoff_flow.answer(ctx, handoff_id, principal.identity, principal.name, text,
                                          f"chat:{msg.channel}:{msg.event_id}", "chat")
    else:
        status, ids = handoff_flow.release(ctx, handoff_id, principal.identity, principal.name, "chat")
    if status in (handoff_flow.NOT_FOUND, handoff_flow.CLOSED):
        handoff_flow.refused(ctx, principal.identity, handoff_id, status, "chat")
        return Outcome(texts=[t(f"handoff.{status}", ctx.locale, id=handoff_id)], result="error")
    done = "handoff.sent" if name == "reply" else "handoff.given_back"
    return Outcome(texts=[t(done, ctx.locale, id=handoff_id)], follow_up=[(outbox.KIND, i) for i in ids])
