"""The chat action's knowledge step: on a route whose rule names knowledge spaces, find the chunks
that answer the question and give them to the model as numbered sources; when none is relevant,
say so (and offer a person) instead of letting the model guess, unless
`[knowledge] answer_without_sources`. A route naming no space pays nothing: no query is made."""
from __future__ import annotations

from typing import Any

from ...audit import AuditEvent
from ...auth.rbac import Principal
from ...i18n import t
from ...knowledge import retrieve
from ...knowledge.embeddings import Embedder
from ...knowledge.prompt import Sources, numbered_sources
from ...messages import InboundMessage
from ..outcome import Outcome
from .base import HandlerContext

MAX_SPACES = 20


def knowledge_spaces_for(rule_params: dict[str, Any], profile: Any = None) -> list[str]:
    """The knowledge spaces a chat answers from: the per-chat profile's when it names any, else its
    rule's `{"knowledge": [...]}`."""
    value = list(profile.knowledge) if profile is not None and profile.knowledge else rule_params.get("knowledge") or []
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list):
        return []
    return list(dict.fromkeys(v for v in value if isinstance(v, str) and v))[:MAX_SPACES]


def ground(ctx: HandlerContext, msg: InboundMessage, principal: Principal, history: list[Any],
           spaces: list[str]) -> tuple[Sources | None, Outcome | None]:
    """(the sources to answer from, or None) and, when nothing relevant was found and the bot must
    not guess, the outcome that says it does not know."""
    settings = ctx.settings.knowledge
    last_turn = next((turn.content for turn in reversed(history) if turn.role == "user"), "")
    found = retrieve(ctx.db, settings, spaces, msg.text, context=last_turn,
                     embedder=Embedder(settings, ctx.models, ctx.providers))
    relevant = [item for item in found if item.relevant]
    if relevant:
        return numbered_sources(relevant, settings.max_context_chars), None
    if settings.answer_without_sources:
        return None, None
    text = t("knowledge.unknown", ctx.locale)
    return None, Outcome(texts=[text], remember=[("user", msg.text), ("assistant", text)], result="unanswered",
                         audit=[AuditEvent("knowledge.unanswered", principal.identity, "knowledge:" + ",".join(spaces),
                                           "ok", {"event_id": msg.event_id, "candidates": len(found)})])
