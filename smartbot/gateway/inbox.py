"""The durable inbox: accept a message once, and store what handling it decided, atomically.

`accept` is the one INSERT of the webhook path; the unique (channel, event_id) key makes a
platform's retry a no-op. `complete` marks the message done and writes its replies, memory and
audit rows in the same transaction, then leases the next message of the same conversation.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import audit, conversations, usage
from ..db import Database
from ..jobs.queue import OrderedQueue
from ..messages import InboundMessage, Reply
from ..models import Inbox
from ..models.queues import FAILED, LEASED
from ..outcome import Outcome
from . import outbox

_inbox = Inbox.__table__
queue = OrderedQueue(_inbox)
# One statement per accepted message: insert, and lease it to the accepting owner at once when no
# earlier message of its conversation is unfinished (`:lease` false: leave it queued). A retry of
# the same event conflicts on (channel, event_id) and returns no row.
_ACCEPT = (
    "INSERT INTO inbox (channel, event_id, order_key, payload, status, owner, lease_until, attempts, "
    "next_attempt_at, created_at, last_error) "
    "SELECT :channel, :event_id, :order_key, :payload, CASE WHEN h.free THEN 'leased' ELSE 'queued' END, "
    "CASE WHEN h.free THEN :owner ELSE NULL END, CASE WHEN h.free THEN :until ELSE 0 END, "
    "CASE WHEN h.free THEN 1 ELSE 0 END, :now, :now, '' "
    "FROM (SELECT (:lease AND NOT EXISTS (SELECT 1 FROM inbox o WHERE o.order_key = :order_key "
    "AND o.status IN ('queued', 'leased'))) AS free) h WHERE 1 = 1 "
    "ON CONFLICT DO NOTHING RETURNING id, status")
_REGISTER_SENDER = sa.text(
    "INSERT INTO identities (channel, platform_user_id, display_name, created_at) "
    "VALUES (:channel, :user_id, :name, :now) ON CONFLICT DO NOTHING")


@dataclass
class Accepted:
    row_id: int | None          # None: a duplicate of a message already accepted
    leased: bool                # leased to the accepting owner (it should start work at once)

    @property
    def duplicate(self) -> bool:
        return self.row_id is None


def accept(db: Database, msg: InboundMessage, owner: str | None, lease_seconds: float) -> Accepted:
    """Store one message, leased to `owner` when it is first in line (None: left queued)."""
    now = time.time()
    params = {"now": now, "lease": bool(owner), "owner": owner or "", "until": now + lease_seconds,
              "channel": msg.channel, "event_id": msg.event_id, "order_key": msg.conversation_key,
              "payload": json.dumps(msg.to_record(), ensure_ascii=False, separators=(",", ":"))}

    def write(conn: Connection) -> Accepted:
        row = db.fetch_one(conn, _ACCEPT, params)
        return Accepted(None, False) if row is None else Accepted(row[0], row[1] == LEASED)

    return db.run_write(write)


def load(db: Database, row_id: int) -> tuple[Any, InboundMessage] | None:
    with db.read() as conn:
        row = queue.load_one(conn, row_id)
    if row is None:
        return None
    return row, InboundMessage.from_record(json.loads(row.payload))


@dataclass
class Completed:
    outbox_ids: list[int]       # replies leased to the owner for immediate delivery
    next_inbox_ids: list[int]   # the conversation's next message, leased to the owner
    replies: dict[int, Reply] = field(default_factory=dict)    # the leased replies, by row id


def complete(db: Database, row: Any, msg: InboundMessage, outcome: Outcome, owner: str, lease_seconds: float,
             channel: Any, status: str = "done") -> Completed | None:
    """Store the outcome; None when the lease was lost (another owner finished or holds it)."""
    until = time.time() + lease_seconds

    def write(conn: Connection) -> Completed | None:
        if not queue.finish(conn, row.id, owner, status=status, error="" if status != FAILED else outcome.result):
            return None
        queued = outbox.enqueue(conn, msg, outcome, row.id, channel)
        if outcome.reset_memory:
            conversations.reset(conn, msg.conversation_key)
        conversations.append(conn, msg.conversation_key, msg.channel, msg.chat_id, msg.user_id, outcome.remember,
                             outcome.provider, outcome.model)
        conn.execute(_REGISTER_SENDER, {"channel": msg.channel, "user_id": msg.user_id, "name": msg.user_name[:200],
                                        "now": time.time()})
        audit.record_all(conn, outcome.audit)
        usage.record_all(conn, outcome.usage)
        leased_out = outbox.queue.lease_if_head(conn, [row_id for row_id, _ in queued], owner, until)
        next_in = queue.lease_next(conn, row.order_key, owner, until)
        replies = dict(queued)
        return Completed(leased_out, next_in, {row_id: replies[row_id] for row_id in leased_out})

    return db.run_write(write)


def retry_later(db: Database, row_id: int, owner: str, delay: float, error: str) -> bool:
    at = time.time() + delay
    return db.run_write(lambda conn: queue.retry_later(conn, row_id, owner, at, error))


def requeue_unstarted(db: Database, owner: str, ids: list[int]) -> int:
    with db.write() as conn:
        return queue.release_all(conn, owner, ids)


def stats(db: Database) -> dict[str, Any]:
    now = time.time()
    with db.read() as conn:
        return {"depth": queue.depth(conn), "oldest_age": queue.oldest_unfinished_age(conn, now),
                "total": conn.execute(sa.select(sa.func.count()).select_from(_inbox)).scalar()}
