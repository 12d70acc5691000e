"""The `chat` action: the user's message, with their recent turns, to the model chain its model
route picks (and, on routes whose rule says {"tools": true}, the catalogue commands this user may
run, as tools). Checks the permission and the daily token quota first: a refused or over-quota
message never reaches a model.

On a channel that shows replies being written (`[channels.<name>] stream`), the answer is streamed
into a preview (previews.py for the web chat, the platform's own message for the others: live.py)
and the final reply replaces it; a route with tools is answered whole, since its text only counts
once its tool rounds are done. Where the platform has one, a typing indicator shows until text does."""
from __future__ import annotations

import logging
from dataclasses import replace

from ...assistant import memory, usage
from ...audit import AuditEvent
from ...auth import rbac
from ...auth.rbac import Principal
from ...errors import ProviderError
from ...i18n import language_name, t
from ...llm.base import ModelRequest, ProviderSpec
from ...llm.service import ChainFailed, NoProviderConfigured
from ...messages import InboundMessage
from .. import live, previews
from ..media import intake as media, output
from ..outcome import Outcome
from ...router import Route
from .base import HandlerContext
from .command import origin_of
from .knowledge_answer import ground, knowledge_spaces_for
from ...knowledge import prompt as knowledge_prompt
from .tool_calls import complete_with_tools

log = logging.getLogger(__name__)

_FRIENDLY = {"timeout": "model.timeout", "malformed": "model.bad_answer"}


def handle_chat(ctx: HandlerContext, msg: InboundMessage, principal: Principal, route: Route) -> Outcome:
    decision = rbac.check(principal, "chat", msg.chat_key)
    if not decision.allowed:
        return Outcome(texts=[t("denied", ctx.locale, reason=decision.reason)], result="denied",
                       audit=[AuditEvent("message.denied", principal.identity, "chat", "denied",
                                         {"reason": decision.reason, "event_id": msg.event_id})])
    limits = ctx.settings.memory
    profile = ctx.profile       # the chat's own persona, route, tools and quotas (router/profiles.py)
    with ctx.db.read() as conn:
        choice = ctx.providers.select(msg, principal, conn, profile.model_route if profile else "")
        quota = usage.quota_state(conn, ctx.settings.quotas, principal, profile.tokens_per_day if profile else None)
        # A cached (FAQ) route answers the question alone, so the answer can serve everyone who asks it.
        history = [] if choice.cache_ttl > 0 or not choice.chain else \
            memory.load_history(conn, msg.conversation_key, limits.max_turns, limits.max_tokens)
    if not choice.chain:
        return Outcome(texts=[t("no_model", ctx.locale)], result="unconfigured")
    if quota is not None and quota.exceeded:
        return Outcome(texts=[t("quota.exceeded", ctx.locale, limit=quota.limit)], result="quota",
                       audit=[AuditEvent("model.quota_exceeded", principal.identity, usage.user_key(principal),
                                         "denied", {"used": quota.used, "limit": quota.limit,
                                                    "event_id": msg.event_id})])
    over = usage.over_rate(ctx.store, ctx.settings.quotas, principal, f"{msg.channel}:{msg.event_id}",
                           msg.received_at, profile.messages_per_minute if profile else None)
    if over is not None:
        limit, place = over
        events = [] if place > limit + 1 else [AuditEvent(   # one audit row per user and minute, not per message
            "model.rate_limited", principal.identity, usage.user_key(principal), "denied",
            {"limit_per_minute": limit, "event_id": msg.event_id})]
        return Outcome(texts=[t("quota.rate", ctx.locale, limit=limit)], result="rate_limited", audit=events)
    persona = profile.system_prompt if profile else ""
    system = persona or choice.system_prompt or str(route.params.get("system_prompt") or ctx.settings.system_prompt)
    system = system.replace("{bot_name}", ctx.settings.bot_name).replace("{language}", language_name(ctx.locale))
    intake = intake_of(ctx, msg, principal)
    if not intake.text and not intake.images:
        return Outcome(texts=intake.notices or [t("media.nothing_read", ctx.locale)], result="media_refused",
                       audit=intake.audit, usage=intake.spent)
    sources = None
    spaces = knowledge_spaces_for(route.params, ctx.profile)
    if spaces:      # searched with what the user said, a voice note's transcript included
        sources, unanswered = ground(ctx, replace(msg, text=intake.remembered), principal, history, spaces)
        if unanswered is not None:
            unanswered.audit += intake.audit
            unanswered.usage += intake.spent
            return unanswered
        if sources is not None:
            system = knowledge_prompt.system_prompt(system, sources, ctx.locale)
    messages = [{"role": "system", "content": system}]
    messages += [{"role": turn.role, "content": turn.content} for turn in history]
    messages.append({"role": "user", "content": intake.text, **({"images": intake.images} if intake.images else {})})
    # A profile turns tools on or off for its chats; tools offer only what this sender may run.
    tools = route.params.get("tools") if profile is None or profile.tools is None else profile.tools
    tool_run = None
    shown = _shown_while_written(ctx, msg, streamed=not tools)
    preview = shown if shown is not None and shown.streams else None
    try:
        if tools:
            tool_run = complete_with_tools(ctx, principal, origin_of(msg, principal, ctx.locale), msg.event_id, messages,
                                           choice.chain)
            answer, answers = tool_run.answer, tool_run.answers
        else:
            request = ModelRequest(messages=messages, user=usage.user_key(principal))
            cache_ttl = 0.0 if msg.attachments else choice.cache_ttl    # files make a question no one else asks
            answer = ctx.models.complete(request, choice.chain, cache_ttl=cache_ttl) if preview is None \
                else ctx.models.stream(request, choice.chain, preview, cache_ttl=cache_ttl)
            answers = [answer]
    except NoProviderConfigured:
        return Outcome(texts=[t("no_model", ctx.locale)], result="unconfigured")
    except ProviderError as exc:
        failed = _failed(ctx, msg, principal, exc, choice.route, previewed=preview is not None)
        failed.audit += intake.audit
        failed.usage += intake.spent
        return failed
    finally:
        if shown is not None:
            shown.close()
    text, files = output.take_files(answer.text.strip(), ctx.settings.media.max_bytes)
    text = text or t("model.bad_answer", ctx.locale)
    if sources is not None:
        text = knowledge_prompt.with_sources(text, sources, ctx.locale)
    if intake.images and not _sees(choice.chain, answer.provider):
        intake.notices.append(t("media.no_vision", ctx.locale))
    # The calls' usage is written with the outcome, by the transaction that finishes the message.
    outcome = Outcome(texts=["\n\n".join([text] + intake.notices)],
                      remember=[("user", intake.remembered), ("assistant", text)], provider=answer.provider,
                      model=answer.model, tokens=answer.usage.total, format="markdown",
                      usage=usage.spent(usage.user_key(principal), answers) + intake.spent,
                      previewed=preview is not None, audit=intake.audit, files=files)
    return tool_run.finish(outcome, principal.identity, msg.event_id) if tool_run else outcome


def intake_of(ctx: HandlerContext, msg: InboundMessage, principal: Principal) -> media.Intake:
    """The user's message as the model reads it: their text, plus what their files hold."""
    if not msg.attachments:
        return media.Intake(text=msg.text, remembered=msg.text)
    return media.take_in(ctx, msg, principal.identity, usage.user_key(principal))


def _sees(chain: list[ProviderSpec], provider: str) -> bool:
    """Whether the provider that answered read the images (a fallback may not have)."""
    return any(spec.vision for spec in chain if spec.name == provider)


def _shown_while_written(ctx: HandlerContext, msg: InboundMessage,
                         streamed: bool) -> live.LiveReply | previews.Preview | None:
    """What shows the answer while the model writes it (a preview, typing); None when nothing does."""
    return live.for_message(ctx.db, ctx.channels.get(msg.channel), msg,
                            previews.stream_settings(ctx.settings, msg.channel), streamed)


def _failed(ctx: HandlerContext, msg: InboundMessage, principal: Principal, exc: ProviderError,
            model_route: str, previewed: bool) -> Outcome:
    details = {"kind": exc.kind, "reason": exc.reason, "event_id": msg.event_id, "route": model_route or "default"}
    if isinstance(exc, ChainFailed):
        details["tried"] = exc.summary()
    if isinstance(exc, ChainFailed) and exc.every_model_down:
        key = "model.all_down"
    else:
        key = _FRIENDLY.get(exc.kind, "model.unavailable")
    return Outcome(texts=[t(key, ctx.locale)], result="error", previewed=previewed,
                   audit=[AuditEvent("model.error", principal.identity, exc.provider or "model", "error", details)])
