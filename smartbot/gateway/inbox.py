"""The durable inbox: accept a message once, and finish it once.

`accept` is the one INSERT of the webhook path; the unique (channel, event_id) key makes a
platform's retry a no-op. `finish` marks a message done inside the transaction that stores what
handling it decided (see outcome.py), and leases the next message of the same conversation.
"""
from __future__ import annotations

import json
import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..storage.db import Database
from ..storage.queue import OrderedQueue, QueueRow
from ..messages import InboundMessage
from ..storage.tables import Inbox
from ..storage.tables.queues import LEASED

KIND = "inbox"                  # the job kind that handles an inbox row
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


def load(db: Database, row_id: int) -> tuple[QueueRow, InboundMessage] | None:
    with db.read() as conn:
        loaded = queue.load_one(conn, row_id)
    if loaded is None:
        return None
    row, payload = loaded
    return row, InboundMessage.from_record(json.loads(payload))


@dataclass(frozen=True)
class Received:
    """A message as a page showing its conversation reads it back."""

    id: int
    at: float                   # when it was accepted
    message: InboundMessage


def received_before(conn: Connection, conversation_key: str, before_id: int, limit: int) -> list[Received]:
    """One conversation's messages before `before_id`, newest first, whatever became of them."""
    rows = conn.execute(sa.select(_inbox.c.id, _inbox.c.created_at, _inbox.c.payload)
                        .where(_inbox.c.order_key == conversation_key, _inbox.c.id < before_id)
                        .order_by(_inbox.c.id.desc()).limit(limit)).all()
    return [Received(r.id, r.created_at, InboundMessage.from_record(json.loads(r.payload))) for r in rows]


def finish(conn: Connection, row: QueueRow, owner: str, status: str, error: str = "") -> bool:
    """Mark the message finished; False when the lease was lost (another owner finished or holds it)."""
    return queue.finish(conn, row.id, owner, status=status, error=error)


def lease_next(conn: Connection, row: QueueRow, owner: str, until: float) -> list[int]:
    """After finishing `row`: lease its conversation's next message to `owner`, when one is due."""
    return queue.lease_next(conn, row.order_key, owner, until)


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
