"""Approval requests: stored, decided once, expired. Storage and state changes only.

    pending --approve--> approved --claim--> running --> done | failed
    pending --deny--> denied          pending --(expires_at passed)--> expired

Every change is one conditional UPDATE (compare-and-set on the status), so two admins deciding at
once, or two workers claiming at once, cannot both win. Who may decide is checked by the caller.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..telemetry.redact import redact
from ..storage.tables import Approval

_approvals = Approval.__table__
PENDING, APPROVED, RUNNING, DONE, FAILED, DENIED, EXPIRED = (
    "pending", "approved", "running", "done", "failed", "denied", "expired")
STATUSES = (PENDING, APPROVED, RUNNING, DONE, FAILED, DENIED, EXPIRED)


@dataclass(frozen=True)
class Origin:
    """Where a request came from, so the requester can be told the outcome there."""

    requester: str              # channel:platform_user_id
    requester_name: str
    channel: str
    chat_id: str
    reply_context: dict[str, Any]
    locale: str = ""            # the requester's language ("": the server's default_locale)

    @property
    def chat_key(self) -> str:
        return f"{self.channel}:{self.chat_id}"


def create(conn: Connection, db: Any, request_key: str, command: str, args: dict[str, str], origin: Origin,
           via: str, ttl_seconds: float) -> tuple[Any, bool]:
    """The request for `request_key` (made now, or found when it was made before) and whether it is new."""
    now = time.time()
    inserted = conn.execute(db.insert_ignore(_approvals).values(
        request_key=request_key[:400], command=command, args=args, requester=origin.requester,
        requester_name=origin.requester_name[:200], channel=origin.channel, chat_id=origin.chat_id,
        reply_context=origin.reply_context, via=via, locale=origin.locale or None, status=PENDING, created_at=now, expires_at=now + ttl_seconds,
        decided_by="", decided_at=None, result={}).returning(_approvals.c.id)).first() is not None
    row = conn.execute(sa.select(_approvals).where(_approvals.c.request_key == request_key[:400])).one()
    return row, inserted


def get(conn: Connection, approval_id: int) -> Row[Any] | None:
    return conn.execute(sa.select(_approvals).where(_approvals.c.id == approval_id)).first()


def transition(conn: Connection, approval_id: int, from_status: str, to_status: str, **values: Any) -> bool:
    """Move one request from `from_status` to `to_status`; False when it was not in `from_status`
    (someone else decided first) or, for a decision, when it has expired."""
    query = sa.update(_approvals).where(_approvals.c.id == approval_id, _approvals.c.status == from_status)
    if from_status == PENDING and to_status != EXPIRED:
        query = query.where(_approvals.c.expires_at > time.time())
    return conn.execute(query.values(status=to_status, **values)).rowcount == 1


def any_due(conn: Connection, now: float) -> bool:
    return conn.execute(sa.select(_approvals.c.id).where(_approvals.c.status == PENDING,
                                                         _approvals.c.expires_at <= now).limit(1)).first() is not None


def expire_due(conn: Connection, now: float, limit: int = 100) -> list[Any]:
    """Mark pending requests past their expiry as expired; returns the rows that changed."""
    due = conn.execute(sa.select(_approvals).where(_approvals.c.status == PENDING, _approvals.c.expires_at <= now)
                       .order_by(_approvals.c.id).limit(limit)).all()
    return [row for row in due if transition(conn, row.id, PENDING, EXPIRED, decided_at=now, decided_by="system")]


def approved_waiting(conn: Connection, limit: int = 50) -> list[int]:
    """Approved requests no worker has claimed yet (approved through the API, or a worker died)."""
    return list(conn.execute(sa.select(_approvals.c.id).where(_approvals.c.status == APPROVED)
                             .order_by(_approvals.c.id).limit(limit)).scalars())


def listing(conn: Connection, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    query = sa.select(_approvals).order_by(_approvals.c.id.desc()).limit(limit)
    if status:
        query = query.where(_approvals.c.status == status)
    return [as_dict(row) for row in conn.execute(query).all()]


def as_dict(row: Row[Any]) -> dict[str, Any]:
    return {"id": row.id, "command": row.command, "args": redact(row.args or {}), "requester": row.requester,
            "requester_name": row.requester_name, "chat": f"{row.channel}:{row.chat_id}", "via": row.via,
            "status": row.status, "created_at": row.created_at, "expires_at": row.expires_at,
            "decided_by": row.decided_by, "decided_at": row.decided_at, "result": row.result}
