"""Conversation memory: the turns of one user in one chat, loaded within a token budget.

The model sees only the last turns that fit `max_turns` and `max_tokens`; older turns stay for the
admin page until the retention purge. `/reset` deletes a conversation's turns.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..llm.base import estimate_tokens
from ..storage.tables import Conversation, ConversationMessage

_conv, _msgs = Conversation.__table__, ConversationMessage.__table__


@dataclass(frozen=True)
class Turn:
    role: str       # user | assistant
    content: str


# Read on every chat turn: built once (building them per call cost more CPU than running them).
_CONVERSATION_ID = sa.select(_conv.c.id).where(_conv.c.key == sa.bindparam("key"))
_LATEST_TURNS = (sa.select(_msgs.c.role, _msgs.c.content, _msgs.c.tokens)
                 .where(_msgs.c.conversation_id == sa.bindparam("conversation_id"))
                 .order_by(_msgs.c.id.desc()).limit(sa.bindparam("rows", type_=sa.Integer)))


def load_history(conn: Connection, key: str, max_turns: int, max_tokens: int) -> list[Turn]:
    if max_turns <= 0 or max_tokens <= 0:
        return []
    conv_id = conn.execute(_CONVERSATION_ID, {"key": key}).scalar()
    if conv_id is None:
        return []
    rows = conn.execute(_LATEST_TURNS, {"conversation_id": conv_id, "rows": max_turns * 2}).all()
    turns: list[Turn] = []
    budget = max_tokens
    for row in rows:
        cost = row.tokens or estimate_tokens(row.content)
        if cost > budget:
            break
        budget -= cost
        turns.append(Turn(row.role, row.content))
    turns.reverse()
    # Never start the context with an orphaned assistant answer.
    while turns and turns[0].role != "user":
        turns.pop(0)
    return turns


def last_turns(conn: Connection, key: str, count: int) -> list[Turn]:
    """The conversation's last `count` turns as they were, oldest first (what a person taking it
    over reads; the model's history is load_history's)."""
    conv_id = conn.execute(_CONVERSATION_ID, {"key": key}).scalar()
    if conv_id is None or count <= 0:
        return []
    rows = conn.execute(_LATEST_TURNS, {"conversation_id": conv_id, "rows": count}).all()
    return [Turn(row.role, row.content) for row in reversed(rows)]


# One statement that creates the conversation or touches it, and returns its id either way.
_UPSERT = sa.text(
    "INSERT INTO conversations (key, channel, chat_id, user_id, created_at, updated_at) "
    "VALUES (:key, :channel, :chat_id, :user_id, :now, :now) "
    "ON CONFLICT (key) DO UPDATE SET updated_at = excluded.updated_at RETURNING id")
_ADD_TURN = sa.text(
    "INSERT INTO conversation_messages (conversation_id, role, content, provider, model, tokens, created_at) "
    "VALUES (:conversation_id, :role, :content, :provider, :model, :tokens, :now)")


def append(conn: Connection, key: str, channel: str, chat_id: str, user_id: str,
           turns: list[tuple[str, str]], provider: str = "", model: str = "") -> None:
    if not turns:
        return
    now = time.time()
    conv_id = conn.execute(_UPSERT, {"key": key, "channel": channel, "chat_id": chat_id, "user_id": user_id,
                                     "now": now}).scalar_one()
    conn.execute(_ADD_TURN, [
        {"conversation_id": conv_id, "role": role, "content": content, "tokens": estimate_tokens(content),
         "provider": provider if role == "assistant" else "", "model": model if role == "assistant" else "",
         "now": now} for role, content in turns])


def reset(conn: Connection, key: str) -> int:
    conv_id = conn.execute(_CONVERSATION_ID, {"key": key}).scalar()
    if conv_id is None:
        return 0
    return conn.execute(sa.delete(_msgs).where(_msgs.c.conversation_id == conv_id)).rowcount


def purge_before(conn: Connection, before: float) -> int:
    return conn.execute(sa.delete(_msgs).where(_msgs.c.created_at < before)).rowcount
