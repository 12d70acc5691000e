"""Hand-offs as rows: a conversation (one sender in one chat) waiting for a person, held by one,
or given back to the bot. Plain reads and conditional writes; saying so to anyone (the customer,
the agents) is pipeline/handlers/handoff_flow.py's job.

A conversation has at most one open hand-off: opening one checks for it under a named lock
(`Database.serialize`), and an open one with no activity for `[handoff] timeout_minutes` counts as
closed before the sweep marks it expired. Every change is a conditional UPDATE on the status, so
two agents releasing at once, or a release racing the timeout, change the row once.
"""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..messages import InboundMessage
from ..storage.db import Database
from ..storage.tables import Handoff

_handoffs = Handoff.__table__
WAITING, HELD, RELEASED, EXPIRED = "waiting", "held", "released", "expired"
OPEN = (WAITING, HELD)
# Read for every message: built once.
_OPEN_FOR = (sa.select(_handoffs).where(_handoffs.c.conversation_key == sa.bindparam("key"),
                                        _handoffs.c.status.in_(OPEN),
                                        _handoffs.c.updated_at >= sa.bindparam("since"))
             .order_by(_handoffs.c.id.desc()).limit(1))


def open_for(conn: Connection, conversation_key: str, timeout_seconds: float, now: float | None = None) -> Row[Any] | None:
    """The conversation's open hand-off, None when the bot answers it."""
    since = (time.time() if now is None else now) - timeout_seconds
    return conn.execute(_OPEN_FOR, {"key": conversation_key, "since": since}).first()


def get(conn: Connection, handoff_id: int) -> Row[Any] | None:
    return conn.execute(sa.select(_handoffs).where(_handoffs.c.id == handoff_id)).first()


def is_open(row: Row[Any] | None, timeout_seconds: float, now: float | None = None) -> bool:
    now = time.time() if now is None else now
    return row is not None and row.status in OPEN and row.updated_at >= now - timeout_seconds


def open_one(conn: Connection, db: Database, msg: InboundMessage, via: str, locale: str,
             timeout_seconds: float) -> tuple[Row[Any], bool]:
    """The conversation's open hand-off, opened now when there is none: (row, opened now)."""
    db.serialize(conn, f"handoff:{msg.conversation_key}")
    now = time.time()
    found = open_for(conn, msg.conversation_key, timeout_seconds, now)
    if found is not None:
        return found, False
    new_id = conn.execute(sa.insert(_handoffs).values(
        conversation_key=msg.conversation_key, channel=msg.channel, chat_id=msg.chat_id, user_id=msg.user_id,
        user_name=msg.user_name[:200], reply_context=dict(msg.reply_context), locale=locale, via=via[:40],
        status=WAITING, agent="", replies=0, requested_at=now, updated_at=now).returning(_handoffs.c.id)).scalar_one()
    return get(conn, new_id), True


def touch(conn: Connection, handoff_id: int, reply_context: dict[str, Any] | None = None) -> None:
    """Activity in the conversation: the timeout starts again (and the latest way to answer is kept)."""
    values: dict[str, Any] = {"updated_at": time.time()}
    if reply_context:
        values["reply_context"] = dict(reply_context)
    conn.execute(sa.update(_handoffs).where(_handoffs.c.id == handoff_id, _handoffs.c.status.in_(OPEN))
                 .values(**values))


def answered(conn: Connection, handoff_id: int, agent: str, timeout_seconds: float) -> bool:
    """An agent answered: the conversation is held; False when it is not open (any more)."""
    now = time.time()
    return conn.execute(sa.update(_handoffs).where(
        _handoffs.c.id == handoff_id, _handoffs.c.status.in_(OPEN), _handoffs.c.updated_at >= now - timeout_seconds)
        .values(status=HELD, agent=agent[:200], replies=_handoffs.c.replies + 1, updated_at=now)).rowcount == 1


def close(conn: Connection, handoff_id: int, status: str, agent: str = "",
          timeout_seconds: float | None = None) -> bool:
    """Give the conversation back to the bot (released, or expired); False when it was not open.
    `timeout_seconds`: only while it has not timed out (a release loses to the timeout)."""
    now = time.time()
    where = [_handoffs.c.id == handoff_id, _handoffs.c.status.in_(OPEN)]
    if timeout_seconds is not None:
        where.append(_handoffs.c.updated_at >= now - timeout_seconds)
    values: dict[str, Any] = {"status": status, "closed_at": now}
    if agent:
        values["agent"] = agent[:200]
    return conn.execute(sa.update(_handoffs).where(*where).values(**values)).rowcount == 1


def overdue(conn: Connection, timeout_seconds: float, limit: int = 100) -> list[Row[Any]]:
    """Open hand-offs quiet for longer than the timeout (cheap: an index range on status)."""
    cutoff = time.time() - timeout_seconds
    return conn.execute(sa.select(_handoffs).where(_handoffs.c.status.in_(OPEN), _handoffs.c.updated_at < cutoff)
                        .order_by(_handoffs.c.id).limit(limit)).all()


def recent(conn: Connection, limit: int) -> list[Row[Any]]:
    """The open hand-offs, then the latest closed ones; newest first within each."""
    open_rows = conn.execute(sa.select(_handoffs).where(_handoffs.c.status.in_(OPEN))
                             .order_by(_handoffs.c.id.desc()).limit(limit)).all()
    closed = conn.execute(sa.select(_handoffs).where(_handoffs.c.status.notin_(OPEN))
                          .order_by(_handoffs.c.id.desc()).limit(max(0, limit - len(open_rows)))).all()
    return list(open_rows) + list(closed)
