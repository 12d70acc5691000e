"""What the system is doing: queues, messages waiting or failed, conversations, live figures."""
from __future__ import annotations

import json
import time
from typing import Any

import sqlalchemy as sa

from ..i18n.reasons import reason
from ..storage.db import Database
from ..gateway import inbox, outbox
from ..storage.tables import AuditLog, Conversation, ConversationMessage, Inbox, Outbox
from .errors import NotFound

_in, _out, _conv, _msgs, _log = (Inbox.__table__, Outbox.__table__, Conversation.__table__,
                                 ConversationMessage.__table__, AuditLog.__table__)


def queues(db: Database) -> dict[str, Any]:
    return {"inbox": inbox.stats(db), "outbox": outbox.stats(db)}


def _queue_rows(db: Database, table: sa.Table, status: str | None, channel: str | None, limit: int) -> list[dict]:
    query = sa.select(table).order_by(table.c.id.desc()).limit(limit)
    if status:
        query = query.where(table.c.status == status)
    if channel:
        query = query.where(table.c.channel == channel)
    with db.read() as conn:
        rows = conn.execute(query).all()
    out = []
    for r in rows:
        payload = json.loads(r.payload)
        out.append({"id": r.id, "channel": r.channel, "key": getattr(r, "event_id", None) or getattr(r, "dedup_key"),
                    "status": r.status, "attempts": r.attempts, "owner": r.owner, "created_at": r.created_at,
                    "finished_at": r.finished_at, "last_error": r.last_error, "chat_id": payload.get("chat_id"),
                    "text": payload.get("text", "")[:500]})
    return out


def inbox_rows(db: Database, status: str | None, channel: str | None, limit: int) -> list[dict]:
    return _queue_rows(db, _in, status, channel, limit)


def outbox_rows(db: Database, status: str | None, channel: str | None, limit: int) -> list[dict]:
    return _queue_rows(db, _out, status, channel, limit)


def conversations(db: Database, channel: str | None, limit: int) -> list[dict[str, Any]]:
    counts = sa.select(_msgs.c.conversation_id, sa.func.count().label("turns")).group_by(
        _msgs.c.conversation_id).subquery()
    query = (sa.select(_conv, sa.func.coalesce(counts.c.turns, 0).label("turns"))
             .select_from(_conv.outerjoin(counts, counts.c.conversation_id == _conv.c.id))
             .order_by(_conv.c.updated_at.desc()).limit(limit))
    if channel:
        query = query.where(_conv.c.channel == channel)
    with db.read() as conn:
        return [{"id": r.id, "key": r.key, "channel": r.channel, "chat_id": r.chat_id, "user_id": r.user_id,
                 "turns": r.turns, "updated_at": r.updated_at} for r in conn.execute(query).all()]


def conversation(db: Database, conversation_id: int) -> dict[str, Any]:
    with db.read() as conn:
        row = conn.execute(sa.select(_conv).where(_conv.c.id == conversation_id)).first()
        if row is None:
            raise NotFound(reason("reason.conversation.missing", id=conversation_id))
        turns = conn.execute(sa.select(_msgs).where(_msgs.c.conversation_id == conversation_id)
                             .order_by(_msgs.c.id)).all()
    return {"id": row.id, "key": row.key, "channel": row.channel, "chat_id": row.chat_id, "user_id": row.user_id,
            "turns": [{"role": t.role, "content": t.content, "provider": t.provider, "model": t.model,
                       "at": t.created_at} for t in turns]}


def figures(db: Database) -> dict[str, Any]:
    """The dashboard's live figures, from the database (so every process reports the same): messages
    in and replies out in the last minute, errors in the last hour (audit rows whose result is
    `error`: failed model calls, messages, replies, commands), and refused logins in the last hour,
    which are security events rather than errors."""
    now = time.time()
    last_hour = _log.c.ts >= now - 3600
    with db.read() as conn:
        received = conn.execute(sa.select(sa.func.count()).select_from(_in)
                                .where(_in.c.created_at >= now - 60)).scalar()
        replied = conn.execute(sa.select(sa.func.count()).select_from(_out)
                               .where(_out.c.finished_at >= now - 60, _out.c.status == "done")).scalar()
        errors = conn.execute(sa.select(sa.func.count()).select_from(_log).where(
            last_hour, _log.c.result == "error")).scalar()
        refused_logins = conn.execute(sa.select(sa.func.count()).select_from(_log).where(
            last_hour, _log.c.action == "admin.login", _log.c.result == "refused")).scalar()
    return {"messages_per_minute": received, "replies_per_minute": replied, "errors_last_hour": errors,
            "refused_logins_last_hour": refused_logins}


def summary(db: Database) -> dict[str, Any]:
    """The live figures and the queues (GET /api/v1/metrics/summary)."""
    return {**figures(db), **queues(db)}
