"""A web chat as its page shows it: the visitor's messages (read from the inbox) and the bot's
delivered replies (from the outbox), merged in time order, as entries the page renders.

History comes a page at a time from the newest, back to the last reply that confirmed a /reset:
a new conversation starts an empty page, after a reload too, and the `older` cursor a page gets
stops there. The messages stay in the queues for the admin page until the retention purge; only
this view starts afresh (a cursor made up to point further back reaches the visitor's own chat).

The two queues number their rows apart, so a place in the history is a pair of row ids (`Cursor`).
Only ever reads the chat of the visitor's own cookie: callers pass that chat id, nothing else.
"""
from __future__ import annotations

import heapq
import re
from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from ..channels.support import buttons
from ..errors import PayloadError
from ..gateway import inbox, outbox
from ..storage.db import MAX_INTEGER
from . import outputs

CHANNEL = "webchat"
_CURSOR = re.compile(r"([0-9]{1,10})\.([0-9]{1,10})\Z")


@dataclass(frozen=True)
class Cursor:
    """Older than this: inbox rows before `inbox_id` and outbox rows before `outbox_id`."""

    inbox_id: int
    outbox_id: int

    def __str__(self) -> str:
        return f"{self.inbox_id}.{self.outbox_id}"

    @classmethod
    def parse(cls, raw: str) -> Cursor:
        match = _CURSOR.match(raw)
        if not match or max(int(match.group(1)), int(match.group(2))) > MAX_INTEGER:
            raise PayloadError(f"before must be two whole numbers from 0 to {MAX_INTEGER} joined by a dot, "
                               "as the last answer's `older` gave it")
        return cls(int(match.group(1)), int(match.group(2)))


@dataclass(frozen=True)
class HistoryPage:
    entries: list[dict[str, Any]]       # oldest first
    older: Cursor | None                # where the page before this one ends; None: this is the first
    last: int                           # the newest delivered reply: the live feed goes on after it


def chat_key(chat_id: str) -> str:
    return f"{CHANNEL}:{chat_id}"


def conversation_key(chat_id: str) -> str:
    """The web chat's visitor is its chat's only user (the blueprint sends user_id = chat_id)."""
    return f"{CHANNEL}:{chat_id}:{chat_id}"


def page(conn: Connection, chat_id: str, before: Cursor | None, limit: int) -> HistoryPage:
    """The `limit` newest entries before `before` (None: the newest of all), since the last reset."""
    last = outbox.last_delivered_id(conn, chat_key(chat_id))
    before = before or Cursor(MAX_INTEGER, last + 1)
    replies = outbox.delivered_before(conn, chat_key(chat_id), before.outbox_id, limit + 1)
    messages = [m for m in inbox.received_before(conn, conversation_key(chat_id), before.inbox_id, limit + 1)
                if not m.message.press]     # a pressed button is not something the visitor wrote
    reset = next((i for i, delivered in enumerate(replies) if delivered.reply.new_conversation), None)
    if reset is not None:
        marker = replies[reset]
        replies = replies[:reset]
        messages = [m for m in messages if (m.id > marker.inbox_id if marker.inbox_id is not None
                                            else m.at > marker.at)]
    # Each list is in row order; a merge keeps it so, and a cursor taken from the shown tail is exact.
    merged = list(heapq.merge(reversed([message_entry(m) for m in messages]),
                              reversed([reply_entry(d, chat_id) for d in replies]),
                              key=lambda entry: (entry["at"], entry["side"] == "bot")))
    shown = merged[-limit:]
    older = None
    if len(merged) > len(shown):
        older = Cursor(min((e["row"] for e in shown if e["side"] == "me"), default=before.inbox_id),
                       min((e["row"] for e in shown if e["side"] == "bot"), default=before.outbox_id))
    return HistoryPage([_public(e) for e in shown], older, last)


def new_replies(conn: Connection, chat_id: str, after: int, limit: int) -> tuple[list[dict[str, Any]], int]:
    """Replies delivered after reply `after`, oldest first (what the live feed pushes), and the
    newest one's row id (`after` when there is none)."""
    found = outbox.delivered_after(conn, chat_key(chat_id), after, limit)
    return [_public(reply_entry(d, chat_id)) for d in found], (found[-1].id if found else after)


def message_entry(received: inbox.Received) -> dict[str, Any]:
    msg = received.message
    return {"id": f"m{received.id}", "row": received.id, "side": "me", "text": msg.text, "format": "plain",
            "at": round(received.at, 3), "client_id": msg.message_id}


def page_id(event_id: str, chat_id: str) -> str:
    """The page's own id for one of its messages (its event id is `<chat id>:<page id>`); "" for
    anything else."""
    prefix = f"{chat_id}:"
    return event_id[len(prefix):] if event_id.startswith(prefix) else ""


def preview_entry(preview: dict[str, Any], chat_id: str) -> dict[str, Any]:
    """A reply being written, keyed like the reply that will replace it."""
    return {**preview, "reply_to": page_id(preview["reply_to"], chat_id)}


def reply_entry(delivered: outbox.Delivered, chat_id: str) -> dict[str, Any]:
    """A reply; `reply_to` is the page's own id for the message it answers ("" for a message that
    answers none, such as an approval's outcome or a workflow's report)."""
    reply = delivered.reply
    entry = {"id": f"b{delivered.id}", "row": delivered.id, "side": "bot", "text": reply.text,
             "format": reply.format, "at": round(delivered.at, 3), "reply_to": page_id(reply.reply_to, chat_id)}
    if reply.new_conversation:
        entry["new_conversation"] = True
    offered = buttons.buttons_of(reply.reply_context)
    if offered:             # an approval's Approve / Deny: the page posts the pressed one's data
        entry["buttons"] = offered
    if buttons.press_answer(reply.reply_context):
        entry["press"] = buttons.press_answer(reply.reply_context)
    if reply.file:          # an image or file in the answer: the page shows or offers it
        entry["file"] = outputs.described(reply, delivered.id)
    return entry


def _public(entry: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in entry.items() if key != "row"}
