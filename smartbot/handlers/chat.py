"""The `chat` action: the user's message, with their recent turns, to the model chain (and, on routes
whose rule says {"tools": true}, the catalogue commands this user may run, as tools)."""
from __future__ import annotations

import logging

from .. import conversations
from ..audit import AuditEvent
from ..auth import rbac
from ..auth.rbac import Principal
from ..errors import ProviderError
from ..i18n import language_name, t
from ..llm.base import ModelRequest
from ..llm.service import NoProviderConfigured
from ..messages import InboundMessage
from ..outcome import Outcome
from ..router import Route
from .base import HandlerContext
from .command import origin_of
from .tool_calls import complete_with_tools

log = logging.getLogger(__name__)

_FRIENDLY = {"timeout": "model.timeout", "malformed": "model.bad_answer"}


def handle_chat(ctx: HandlerContext, msg: InboundMessage, principal: Principal, route: Route) -> Outcome:
    decision = rbac.check(principal, "chat", msg.chat_key)
    if not decision.allowed:
        return Outcome(texts=[t("denied", ctx.locale, reason=decision.reason)], result="denied",
                       audit=[AuditEvent("message.denied", principal.identity, "chat", "denied",
                                         {"reason": decision.reason, "event_id": msg.event_id})])
    chain = ctx.providers.chain()
    if not chain:
        return Outcome(texts=[t("no_model", ctx.locale)], result="unconfigured")
    memory = ctx.settings.memory
    with ctx.db.read() as conn:
        history = conversations.load_history(conn, msg.conversation_key, memory.max_turns, memory.max_tokens)
    system = str(route.params.get("system_prompt") or ctx.settings.system_prompt)
    system = system.replace("{bot_name}", ctx.settings.bot_name).replace("{language}", language_name(ctx.locale))
    messages = [{"role": "system", "content": system}]
    messages += [{"role": turn.role, "content": turn.content} for turn in history]
    messages.append({"role": "user", "content": msg.text})
    tool_run = None
    try:
        if route.params.get("tools"):
            tool_run = complete_with_tools(ctx, principal, origin_of(msg, principal), msg.event_id, messages, chain)
            answer = tool_run.answer
        else:
            answer = ctx.models.complete(ModelRequest(messages=messages, user=principal.identity), chain)
    except NoProviderConfigured:
        return Outcome(texts=[t("no_model", ctx.locale)], result="unconfigured")
    except ProviderError as exc:
        key = _FRIENDLY.get(exc.kind, "model.unavailable")
        return Outcome(texts=[t(key, ctx.locale)], result="error",
                       audit=[AuditEvent("model.error", principal.identity, exc.provider or "model", "error",
                                         {"kind": exc.kind, "reason": exc.reason, "event_id": msg.event_id})])
    text = answer.text.strip() or t("model.bad_answer", ctx.locale)
    outcome = Outcome(texts=[text], remember=[("user", msg.text), ("assistant", text)], provider=answer.provider,
                      model=answer.model, tokens=answer.usage.total, format="markdown")
    return tool_run.finish(outcome, principal.identity, msg.event_id) if tool_run else outcome
