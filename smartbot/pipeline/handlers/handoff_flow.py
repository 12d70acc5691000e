"""Hand-off to a person, from request to release: ask (tell the customer, notify the agents with
the conversation's last turns), pass on what the customer writes while a person holds it, answer,
give back (an agent's release, or `[handoff] timeout_minutes` of quiet).

Like approvals (approval_flow.py), every notice and answer is an outbox row written in the same
transaction as the state change it announces, under a key that makes a repeat a no-op: an agent's
answer reaches the customer once, on the customer's platform, whoever retries what. The caller
hands the returned outbox ids to delivery. Answering needs `handoff:answer`, checked by the caller
(the chat command, the API); nothing here checks rights.
"""
from __future__ import annotations

import logging
from typing import Any, Callable

from sqlalchemy.engine import Connection, Row

from ... import audit
from ...assistant import handoffs, memory
from ...assistant.handoffs import EXPIRED, RELEASED
from ...audit import AuditEvent
from ...auth.rbac import Principal
from ...gateway import outbox
from ...i18n import t
from ...messages import InboundMessage, Reply
from ..outcome import Outcome
from .approval_asks import chat_locale
from .approval_flow import NOTICE_LIMIT
from .base import HandlerContext

log = logging.getLogger(__name__)
TURN_CHARS = 300            # each turn shown to the agents, at most
MAX_TURNS = 50
SENT, DUPLICATE, CLOSED, NOT_FOUND = "sent", "duplicate", "closed", "not_found"


def timeout_seconds(ctx: HandlerContext) -> float:
    return ctx.settings.handoff.timeout_minutes * 60


def request(ctx: HandlerContext, msg: InboundMessage, principal: Principal, via: str) -> Outcome:
    """Mark the sender's conversation as waiting for a person and tell the agents (once: asking
    again while it waits only says so)."""
    ids: list[int] = []
    with ctx.db.write() as conn:
        row, new = handoffs.open_one(conn, ctx.db, msg, via, ctx.locale, timeout_seconds(ctx))
        if new:
            audit.record_all(conn, [AuditEvent("handoff.requested", principal.identity, f"handoff:{row.id}",
                                               "waiting", {"via": via, "chat": msg.chat_key,
                                                           "event_id": msg.event_id})])
            turns = _last_turns(conn, ctx, row.conversation_key)
            ids = _notify(conn, ctx, f"handoff:{row.id}:notify", lambda loc: t(
                "handoff.notice", loc, id=row.id, who=_who(row), chat=f"{row.channel}:{row.chat_id}",
                turns=turns or t("handoff.no_turns", loc)))
    key = "handoff.waiting" if new else "handoff.still_waiting"
    return Outcome(texts=[t(key, ctx.locale)], result="waiting", follow_up=[(outbox.KIND, i) for i in ids])


def forward(ctx: HandlerContext, msg: InboundMessage, row: Row[Any]) -> Outcome:
    """A message into a conversation a person holds: kept in the conversation and passed to the
    agents; the bot says nothing and calls no model."""
    with ctx.db.write() as conn:
        handoffs.touch(conn, row.id, msg.reply_context)
        ids = _notify(conn, ctx, f"handoff:{row.id}:msg:{msg.channel}:{msg.event_id}", lambda loc: t(
            "handoff.customer_wrote", loc, id=row.id, who=_who(row), text=msg.text))
    return Outcome(remember=[("user", msg.text)], result="held", follow_up=[(outbox.KIND, i) for i in ids])


def answer(ctx: HandlerContext, handoff_id: int, actor: str, agent_name: str, text: str, key: str,
           via: str) -> tuple[str, list[int]]:
    """An agent's answer to the customer, once per `key`: (sent | duplicate | closed | not_found, outbox ids)."""
    with ctx.db.write() as conn:
        row = handoffs.get(conn, handoff_id)
        if row is None:
            return NOT_FOUND, []
        if not handoffs.is_open(row, timeout_seconds(ctx)):
            return CLOSED, []
        reply = Reply(row.channel, row.chat_id, text, reply_context=row.reply_context or {})
        ids = outbox.add(conn, [reply], f"handoff:{handoff_id}:reply:{key}", f"{row.channel}:{row.chat_id}")
        if not ids:
            return DUPLICATE, []
        handoffs.answered(conn, handoff_id, agent_name, timeout_seconds(ctx))
        memory.append(conn, row.conversation_key, row.channel, row.chat_id, row.user_id, [("assistant", text)],
                      "person", agent_name)
        audit.record(conn, "handoff.replied", actor, f"handoff:{handoff_id}", "ok",
                     {"via": via, "chat": f"{row.channel}:{row.chat_id}", "chars": len(text)})
    return SENT, ids


def release(ctx: HandlerContext, handoff_id: int, actor: str, agent_name: str, via: str) -> tuple[str, list[int]]:
    """Give the conversation back to the bot and tell the customer: (sent | closed | not_found, outbox ids)."""
    with ctx.db.write() as conn:
        row = handoffs.get(conn, handoff_id)
        if row is None:
            return NOT_FOUND, []
        if not handoffs.close(conn, handoff_id, RELEASED, agent_name, timeout_seconds(ctx)):
            return CLOSED, []
        audit.record(conn, "handoff.released", actor, f"handoff:{handoff_id}", "ok",
                     {"via": via, "chat": f"{row.channel}:{row.chat_id}"})
        ids = _tell_customer(conn, ctx, row, "released", t("handoff.released", _customer_locale(ctx, row)))
    return SENT, ids


def refused(ctx: HandlerContext, actor: str, handoff_id: int | None, why: str, via: str) -> None:
    """Audit an attempt to answer or release that was refused (no right, unknown or closed hand-off)."""
    with ctx.db.write() as conn:
        audit.record(conn, "handoff.refused", actor, f"handoff:{handoff_id}" if handoff_id else "handoff",
                     "denied", {"reason": why, "via": via})


def expire_due(ctx: HandlerContext) -> list[int]:
    """Give back hand-offs quiet for longer than the timeout; the outbox ids of the notices."""
    timeout = timeout_seconds(ctx)
    with ctx.db.read() as conn:
        if not handoffs.overdue(conn, timeout, limit=1):
            return []
    ids: list[int] = []
    with ctx.db.write() as conn:
        for row in handoffs.overdue(conn, timeout):
            if handoffs.close(conn, row.id, EXPIRED):
                audit.record(conn, "handoff.expired", "system", f"handoff:{row.id}", "expired",
                             {"chat": f"{row.channel}:{row.chat_id}", "minutes": ctx.settings.handoff.timeout_minutes})
                ids += _tell_customer(conn, ctx, row, "expired", t("handoff.expired", _customer_locale(ctx, row)))
    return ids


def turns_of(conn: Connection, ctx: HandlerContext, conversation_key: str) -> list[dict[str, str]]:
    """The conversation's last turns, as the API shows them."""
    limit = min(ctx.settings.handoff.last_turns, MAX_TURNS)
    return [{"role": turn.role, "text": turn.content} for turn in memory.last_turns(conn, conversation_key, limit)]


def _last_turns(conn: Connection, ctx: HandlerContext, conversation_key: str) -> str:
    lines = []
    for turn in turns_of(conn, ctx, conversation_key):
        text = turn["text"] if len(turn["text"]) <= TURN_CHARS else turn["text"][:TURN_CHARS] + "..."
        lines.append(f"{'>' if turn['role'] == 'user' else '<'} {text}")
    return "\n".join(lines)


def _who(row: Row[Any]) -> str:
    return row.user_name or f"{row.channel}:{row.user_id}"


def _customer_locale(ctx: HandlerContext, row: Row[Any]) -> str:
    return row.locale or ctx.settings.default_locale


def _notify(conn: Connection, ctx: HandlerContext, key: str, text_in: Callable[[str], str]) -> list[int]:
    """One notice to each of the agents' chats ([handoff] notify), in each chat's language."""
    ids: list[int] = []
    for n, (channel, chat_id) in enumerate(ctx.settings.handoff.targets()):
        text = text_in(chat_locale(conn, ctx, channel, chat_id))
        if len(text) > NOTICE_LIMIT:
            text = text[:NOTICE_LIMIT] + "\n[...]"
        ids += outbox.add(conn, [Reply(channel, chat_id, text)], f"{key}:{n}", f"{channel}:{chat_id}")
    return ids


def _tell_customer(conn: Connection, ctx: HandlerContext, row: Row[Any], what: str, text: str) -> list[int]:
    reply = Reply(row.channel, row.chat_id, text, reply_context=row.reply_context or {})
    return outbox.add(conn, [reply], f"handoff:{row.id}:{what}", f"{row.channel}:{row.chat_id}")


class HandoffJobs:
    """The worker pool's side of hand-offs: give back those that timed out, on every sweep."""

    def __init__(self, ctx: HandlerContext, dispatch: Any) -> None:
        self.ctx = ctx
        self.dispatch = dispatch

    def recover(self) -> list[int]:
        ids = expire_due(self.ctx)
        if ids:
            self.dispatch(outbox.KIND, ids, 0.0)
        return ids
