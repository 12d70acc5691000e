"""Conversations as people had them, for the admin page: what each sender wrote and everything the
bot sent back, in order, with names and times; paged and searchable, every query bounded.

The source is the inbox and the outbox, not the conversation memory:
- the inbox holds every message a sender wrote, whatever handled it (the model, a builtin such as
  /help, a command, a workflow, a rule that ignored it), exactly as written;
- the outbox holds every message the bot sent: the answers (each linked to its message by
  `inbox_id`) and what came later (an approval's outcome, a workflow's messages and result);
- the memory (assistant/memory.py) holds only what the model is shown: model answers and the
  messages that asked for them, emptied by /reset.
The queues keep finished rows for `[jobs] dedup_days`, so that is how far back this reaches.

A conversation is one sender in one chat (the inbox's order key, which is also the memory's key);
in a direct chat that is the whole chat. A message the chat got that answers nobody in
particular (a workflow's result) shows in each conversation of that chat, at its time.
"""
from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..i18n.reasons import reason
from ..messages import Attachment
from ..storage.db import Database
from ..storage.tables import Identity, Inbox, Outbox, User
from . import names
from .errors import NotFound

_in, _out, _ident, _users = Inbox.__table__, Outbox.__table__, Identity.__table__, User.__table__
PAGE_SIZE = 30              # conversations on one page of the list
TURNS = 50                  # messages a sender wrote, on one page of a conversation
REPLIES_PER_TURN = 10       # replies read back for them at most, on average
SEARCH_SCAN = 500           # matching messages one search reads, per queue, newest first
SENDERS = 50                # identities a user filter looks for
MAX_PAGE = 10_000           # pages of the list one can ask for (the offset stays bounded)
LIKE_ESCAPE = "/"


@dataclass(frozen=True)
class Search:
    text: str = ""          # in what was written or answered (case-insensitive for Latin letters)
    user: str = ""          # a user's name, a platform's name for a sender, or a platform user id


def listing(db: Database, page: int, search: Search) -> dict[str, Any]:
    """One page of conversations, the latest activity first: who, where, how many messages, the
    last one (or, when searching text, the latest match)."""
    with db.read() as conn:
        keys = None
        if search.user:
            pairs = _senders_named(conn, search.user)
            if not pairs:
                return {"conversations": [], "page": page, "more": False, "capped": False}
            keys = _of_senders(pairs)
        capped = False
        if search.text:
            matches, capped = _text_matches(conn, search.text, keys)
            chosen = list(matches)[(page - 1) * PAGE_SIZE:page * PAGE_SIZE + 1]
            previews = {key: matches[key] for key in chosen}
        else:
            chosen, previews = _latest(conn, page, keys), {}
        more = len(chosen) > PAGE_SIZE
        rows = _summaries(conn, chosen[:PAGE_SIZE], previews)
    return {"conversations": rows, "page": page, "more": more, "capped": capped}


def _senders_named(conn: Connection, text: str) -> list[Any]:
    """The identities (channel, platform user id) whose user, platform name or id contains `text`."""
    pattern = sa.func.lower(sa.literal("%" + _like_escaped(text) + "%"))
    query = sa.select(_ident.c.channel, _ident.c.platform_user_id).select_from(
        _ident.outerjoin(_users, _ident.c.user_id == _users.c.id)).where(sa.or_(
            sa.func.lower(_users.c.name).like(pattern, escape=LIKE_ESCAPE),
            sa.func.lower(_users.c.display_name).like(pattern, escape=LIKE_ESCAPE),
            sa.func.lower(_ident.c.display_name).like(pattern, escape=LIKE_ESCAPE),
            sa.func.lower(_ident.c.platform_user_id).like(pattern, escape=LIKE_ESCAPE),
        )).order_by(_ident.c.id.desc()).limit(SENDERS)
    return conn.execute(query).all()


def _of_senders(pairs: list[Any]) -> sa.ColumnElement[bool]:
    """Inbox rows written by one of these senders (the order key is channel:chat:user)."""
    return sa.or_(*(sa.and_(_in.c.channel == p.channel,
                            _in.c.order_key.like(f"{_like_escaped(p.channel)}:%:{_like_escaped(p.platform_user_id)}",
                                                 escape=LIKE_ESCAPE))
                    for p in pairs))


def _latest(conn: Connection, page: int, keys: sa.ColumnElement[bool] | None) -> list[str]:
    query = (sa.select(_in.c.order_key, sa.func.max(_in.c.id).label("last_id")).group_by(_in.c.order_key)
             .order_by(sa.desc("last_id")).limit(PAGE_SIZE + 1).offset((page - 1) * PAGE_SIZE))
    if keys is not None:
        query = query.where(keys)
    return [r.order_key for r in conn.execute(query).all()]


def _text_matches(conn: Connection, text: str, keys: sa.ColumnElement[bool] | None
                  ) -> tuple[dict[str, dict[str, Any]], bool]:
    """Conversations with a message containing `text`, the latest match first, with that match.
    The database narrows on the stored JSON; each candidate's own text is checked here, so a hit
    in another field (a name, an id) is not a match."""
    pattern = sa.func.lower(sa.literal("%" + _like_escaped(json.dumps(text, ensure_ascii=False)[1:-1]) + "%"))
    wrote = (sa.select(_in.c.order_key, _in.c.payload, _in.c.created_at, _in.c.id)
             .where(sa.func.lower(_in.c.payload).like(pattern, escape=LIKE_ESCAPE))
             .order_by(_in.c.id.desc()).limit(SEARCH_SCAN))
    answered = (sa.select(_in.c.order_key, _out.c.payload, _out.c.created_at, _out.c.id)
                .select_from(_out.join(_in, _in.c.id == _out.c.inbox_id))
                .where(sa.func.lower(_out.c.payload).like(pattern, escape=LIKE_ESCAPE))
                .order_by(_out.c.id.desc()).limit(SEARCH_SCAN))
    if keys is not None:
        wrote, answered = wrote.where(keys), answered.where(keys)
    found, capped = [], False
    needle = text.casefold()
    for query, side in ((wrote, "in"), (answered, "out")):
        rows = conn.execute(query).all()
        capped = capped or len(rows) == SEARCH_SCAN
        for r in rows:
            said = _text_of(json.loads(r.payload))
            if needle in said.casefold():
                found.append((r.created_at, r.order_key, {"text": said, "at": r.created_at, "side": side}))
    found.sort(key=lambda item: item[0], reverse=True)
    matches: dict[str, dict[str, Any]] = {}
    for _, key, preview in found:
        matches.setdefault(key, preview)
    return matches, capped


def _summaries(conn: Connection, keys: list[str], previews: dict[str, dict[str, Any]]) -> list[dict[str, Any]]:
    if not keys:
        return []
    counted = conn.execute(sa.select(_in.c.order_key, sa.func.count().label("messages"),
                                     sa.func.max(_in.c.id).label("last_id"))
                           .where(_in.c.order_key.in_(keys)).group_by(_in.c.order_key)).all()
    last_ids = {r.order_key: r.last_id for r in counted}
    counts = {r.order_key: r.messages for r in counted}
    last = {r.id: r for r in conn.execute(sa.select(_in.c.id, _in.c.payload, _in.c.created_at)
                                          .where(_in.c.id.in_(list(last_ids.values())))).all()}
    records = {key: json.loads(last[last_ids[key]].payload) for key in keys if key in last_ids}
    who = names.senders(conn, [(r["channel"], r["user_id"]) for r in records.values()])
    out = []
    for key in keys:
        if key not in records:
            continue
        record, row = records[key], last[last_ids[key]]
        out.append({"key": key, "channel": record["channel"], "chat_id": record["chat_id"],
                    "chat_type": record.get("chat_type", ""), "who": who[(record["channel"], record["user_id"])],
                    "messages": counts[key],
                    "preview": previews.get(key) or {"text": _text_of(record), "at": row.created_at, "side": "in"}})
    return out


def timeline(db: Database, key: str, before: int | None) -> dict[str, Any]:
    """One page of a conversation: up to TURNS messages the sender wrote before message `before`
    (the latest when None), each followed by what the bot sent, in the order it happened."""
    with db.read() as conn:
        query = sa.select(_in.c.id, _in.c.payload, _in.c.created_at).where(_in.c.order_key == key)
        if before is not None:
            query = query.where(_in.c.id < before)
        rows = conn.execute(query.order_by(_in.c.id.desc()).limit(TURNS + 1)).all()
        if not rows:
            raise NotFound(reason("reason.conversation.none_older"))
        older = len(rows) > TURNS
        rows = list(reversed(rows[:TURNS]))
        records = [json.loads(r.payload) for r in rows]
        first = records[0]
        sender = names.senders(conn, [(first["channel"], first["user_id"])])[(first["channel"], first["user_id"])]
        replies = _replies(conn, key, f"{first['channel']}:{first['chat_id']}", rows, older, before)
    turns = [{"side": "in", "id": r.id, "text": _text_of(rec), "at": r.created_at, "status": "done"}
             for r, rec in zip(rows, records)]
    turns += [{"side": "out", "id": r.id, "text": _text_of(json.loads(r.payload)), "at": r.created_at,
               "status": r.status} for r in replies]
    turns.sort(key=lambda turn: (turn["at"], turn["side"] == "out", turn["id"]))
    return {"key": key, "channel": first["channel"], "chat_id": first["chat_id"],
            "chat_type": first.get("chat_type", ""), "who": sender, "turns": turns,
            "older": rows[0].id if older else None, "latest": before is None}


def _replies(conn: Connection, key: str, chat_key: str, rows: list[Any], older: bool,
             before: int | None) -> list[Any]:
    """What the bot sent to the chat that belongs on this page: the answers to these messages,
    and the messages that answer nobody in particular, sent between this page's first message
    (or ever, on the oldest page) and the next page's."""
    window = [_out.c.inbox_id.is_(None)]
    if older:
        window.append(_out.c.created_at >= rows[0].created_at)
    if before is not None:
        upper = conn.execute(sa.select(_in.c.created_at).where(_in.c.order_key == key, _in.c.id >= before)
                             .order_by(_in.c.id).limit(1)).scalar()
        if upper is not None:
            window.append(_out.c.created_at < upper)
    query = (sa.select(_out.c.id, _out.c.payload, _out.c.created_at, _out.c.status)
             .where(_out.c.order_key == chat_key,
                    sa.or_(_out.c.inbox_id.in_([r.id for r in rows]), sa.and_(*window)))
             .order_by(_out.c.id).limit(TURNS * REPLIES_PER_TURN))
    return conn.execute(query).all()


def known_chats(db: Database, limit: int = PAGE_SIZE) -> list[dict[str, Any]]:
    """The chats that wrote most recently, each once, with who wrote: for a form that picks a
    chat to send to."""
    with db.read() as conn:
        keys = _latest(conn, 1, None)
        rows = _summaries(conn, keys[:limit], {})
    seen: dict[str, dict[str, Any]] = {}
    for row in rows:
        chat = f"{row['channel']}:{row['chat_id']}"
        seen.setdefault(chat, {"chat": chat, "channel": row["channel"], "chat_id": row["chat_id"],
                               "chat_type": row["chat_type"], "who": row["who"]})
    return list(seen.values())


def _text_of(record: dict[str, Any]) -> str:
    """A message's text; a message of attachments only reads as their placeholders."""
    text = record.get("text") or ""
    if text:
        return text
    return " ".join(Attachment(**a).placeholder for a in record.get("attachments") or [])


def _like_escaped(text: str) -> str:
    """`text` matched literally by LIKE: its own %, _ and the escape character are escaped."""
    return text.replace(LIKE_ESCAPE, LIKE_ESCAPE * 2).replace("%", LIKE_ESCAPE + "%").replace("_", LIKE_ESCAPE + "_")
