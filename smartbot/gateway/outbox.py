"""The durable outbox: replies wait here until their channel has them, in order per chat.

A reply's dedup key is derived from the inbound message's key, unique per channel, so handling a
message twice (after a crash) can never queue a second reply. Each reply has a stable delivery id,
sent on every retry, so a receiver can drop a repeat of a send whose result we never learned.
"""
from __future__ import annotations

import json
import time
import uuid
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import audit
from ..audit import AuditEvent
from ..channels.base import Channel
from ..storage.db import Database
from ..storage.queue import OrderedQueue, QueueRow
from ..messages import InboundMessage, Reply
from ..storage.tables import Outbox
from ..storage.tables.queues import DONE, FAILED

KIND = "outbox"                 # the job kind that delivers an outbox row
_outbox = Outbox.__table__
queue = OrderedQueue(_outbox)
_INSERT = sa.text(
    "INSERT INTO outbox (channel, dedup_key, order_key, inbox_id, payload, status, lease_until, attempts, "
    "next_attempt_at, created_at, last_error) VALUES (:channel, :dedup_key, :order_key, :inbox_id, :payload, "
    "'queued', 0, 0, :now, :now, '') ON CONFLICT DO NOTHING RETURNING id")
_NAMESPACE = uuid.UUID("6f1c2a52-54d8-4b8e-9a53-5b0de4b1c7a1")


def delivery_id(channel: str, dedup_key: str) -> str:
    return str(uuid.uuid5(_NAMESPACE, f"{channel}:{dedup_key}"))


def enqueue(conn: Connection, msg: InboundMessage, texts: list[str], text_format: str, inbox_id: int,
            channel: Channel | None, new_conversation: bool = False, preview: str = "",
            files: list[dict[str, str]] | None = None) -> list[tuple[int, Reply]]:
    """Queue replies to the sender's chat, split to the channel's limit, then one reply per file
    (each its own row, so a failed upload is retried alone); returns the new rows' ids and replies.
    `preview`: the handle of the preview shown while the reply was written, which the first text
    part replaces."""
    parts: list[Reply] = []
    for text in texts:
        reply = Reply(channel=msg.channel, chat_id=msg.chat_id, text=text, reply_context=msg.reply_context,
                      format=text_format, reply_to=msg.event_id)
        parts.extend(channel.split(reply) if channel is not None else [reply])
    parts += [Reply(channel=msg.channel, chat_id=msg.chat_id, text=f"[{f['name']}]", reply_context=msg.reply_context,
                    reply_to=msg.event_id, file=f) for f in files or ()]
    for part in parts:
        part.request_id = msg.request_id
        part.new_conversation = new_conversation
    if parts and not parts[0].file:
        parts[0].preview = preview
    return _insert(conn, parts, msg.event_id, msg.chat_key, inbox_id)


def add(conn: Connection, replies: list[Reply], key: str, chat_key: str,
        inbox_id: int | None = None) -> list[int]:
    """Queue replies under dedup keys `key`, `key#2`, ...; a key seen before adds nothing."""
    return [row_id for row_id, _ in _insert(conn, replies, key, chat_key, inbox_id)]


def _insert(conn: Connection, replies: list[Reply], key: str, chat_key: str,
            inbox_id: int | None) -> list[tuple[int, Reply]]:
    now = time.time()
    added = []
    for i, reply in enumerate(replies):
        dedup = key if i == 0 else f"{key}#{i + 1}"
        reply.delivery_id = delivery_id(reply.channel, dedup)
        row_id = conn.execute(_INSERT, {
            "channel": reply.channel, "dedup_key": dedup, "order_key": chat_key, "inbox_id": inbox_id,
            "payload": json.dumps(reply.to_record(), ensure_ascii=False, separators=(",", ":")), "now": now,
        }).scalar()
        if row_id is not None:
            added.append((row_id, reply))
    return added


def load(db: Database, row_id: int) -> tuple[QueueRow, Reply] | None:
    with db.read() as conn:
        loaded = queue.load_one(conn, row_id)
    if loaded is None:
        return None
    row, payload = loaded
    return row, Reply.from_record(json.loads(payload))


def mark_sent(db: Database, row: QueueRow, owner: str, lease_seconds: float) -> list[int] | None:
    """Record the delivery and lease the chat's next reply; None when the lease was lost."""
    def write(conn: Connection) -> list[int] | None:
        if not queue.finish(conn, row.id, owner, DONE):
            return None
        return queue.lease_next(conn, row.order_key, owner, time.time() + lease_seconds)

    return db.run_write(write)


def mark_failed(db: Database, row: QueueRow, owner: str, error: str, lease_seconds: float,
                audit_event: AuditEvent) -> list[int]:
    """Give up on a reply (recorded and audited) and let the chat's next reply go."""
    def write(conn: Connection) -> list[int]:
        if not queue.finish(conn, row.id, owner, FAILED, error):
            return []
        audit.record_all(conn, [audit_event])
        return queue.lease_next(conn, row.order_key, owner, time.time() + lease_seconds)

    return db.run_write(write)


def retry_later(db: Database, row_id: int, owner: str, delay: float, error: str) -> bool:
    at = time.time() + delay
    return db.run_write(lambda conn: queue.retry_later(conn, row_id, owner, at, error))


def requeue_unstarted(db: Database, owner: str, ids: list[int]) -> int:
    """Hand back replies this owner leased but never started sending (graceful stop)."""
    with db.write() as conn:
        return queue.release_all(conn, owner, ids)


# -- replies only a connection's holder can send -------------------------------------------------
# Such a reply (WeCom's AI bot answers over its socket) that another process leased stays leased, to
# a name that is no process's: `connection:<channel>`, with a lease that never runs out. So no
# recovery sweep takes it, and the chat's later replies still wait behind it; the process holding
# the connection takes it from there (`take_left_for_holder`), whichever process that is by then.
HOLDER_LEASE_UNTIL = 1e12       # "never": some 30,000 years from now
_LEAVE = sa.text("UPDATE outbox SET owner = :holder, lease_until = :never, attempts = attempts - 1 "
                 "WHERE id = :id AND owner = :owner AND status = 'leased'")
_LEFT = sa.text("SELECT id FROM outbox WHERE status = 'leased' AND owner = :holder ORDER BY id LIMIT :limit")
_TAKE_LEFT = sa.text(
    "UPDATE outbox SET owner = :owner, lease_until = :until, attempts = attempts + 1 "
    "WHERE id IN :ids AND owner = :holder AND status = 'leased' RETURNING id"
).bindparams(sa.bindparam("ids", expanding=True))


def holder_of(channel: str) -> str:
    """The lease owner of replies waiting for the process holding `channel`'s connection."""
    return f"connection:{channel}"


def leave_for_holder(db: Database, owner: str, row_id: int, channel: str) -> bool:
    """Hand a reply this owner leased to whichever process holds the channel's connection, the
    attempt not counted; False when this owner no longer held it."""
    with db.write() as conn:
        return conn.execute(_LEAVE, {"holder": holder_of(channel), "never": HOLDER_LEASE_UNTIL, "id": row_id,
                                     "owner": owner}).rowcount == 1


def take_left_for_holder(db: Database, channel: str, owner: str, lease_seconds: float,
                         limit: int = 100) -> list[int]:
    """Lease to `owner` (the holder of the channel's connection) the replies left for it, oldest
    first. Reads first, so a holder looking when nothing waits writes nothing."""
    holder = holder_of(channel)
    with db.read() as conn:
        ids = [r[0] for r in conn.execute(_LEFT, {"holder": holder, "limit": limit}).all()]
    if not ids:
        return []
    with db.write() as conn:
        taken = conn.execute(_TAKE_LEFT, {"ids": ids, "holder": holder, "owner": owner,
                                          "until": time.time() + lease_seconds}).all()
    return sorted(r[0] for r in taken)


@dataclass(frozen=True)
class Delivered:
    """A reply its channel has: what a page showing the chat reads back."""

    id: int
    at: float                   # when the reply was written
    inbox_id: int | None        # the message it answers, when it answers one
    reply: Reply


def delivered_after(conn: Connection, chat_key: str, after_id: int, limit: int) -> list[Delivered]:
    """One chat's delivered replies after `after_id`, oldest first (a page's new replies)."""
    return _delivered(conn, chat_key, _outbox.c.id > after_id, _outbox.c.id, limit)


def delivered_before(conn: Connection, chat_key: str, before_id: int, limit: int) -> list[Delivered]:
    """One chat's delivered replies before `before_id`, newest first (a page's history)."""
    return _delivered(conn, chat_key, _outbox.c.id < before_id, _outbox.c.id.desc(), limit)


def last_delivered_id(conn: Connection, chat_key: str) -> int:
    """The newest delivered reply of a chat (0: none). Replies of one chat are delivered in order,
    so every reply before it is finished too."""
    return conn.execute(sa.select(sa.func.max(_outbox.c.id))
                        .where(_outbox.c.order_key == chat_key, _outbox.c.status == DONE)).scalar() or 0


def _delivered(conn: Connection, chat_key: str, bound: Any, order: Any, limit: int) -> list[Delivered]:
    rows = conn.execute(sa.select(_outbox.c.id, _outbox.c.created_at, _outbox.c.inbox_id, _outbox.c.payload)
                        .where(_outbox.c.order_key == chat_key, _outbox.c.status == DONE, bound)
                        .order_by(order).limit(limit)).all()
    return [Delivered(r.id, r.created_at, r.inbox_id, Reply.from_record(json.loads(r.payload))) for r in rows]


def stats(db: Database) -> dict[str, Any]:
    now = time.time()
    with db.read() as conn:
        return {"depth": queue.depth(conn), "oldest_age": queue.oldest_unfinished_age(conn, now),
                "failed": conn.execute(sa.select(sa.func.count()).select_from(_outbox)
                                       .where(_outbox.c.status == FAILED)).scalar()}
