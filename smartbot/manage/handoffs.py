"""Hand-offs for the admin page and the API: the waiting and recent ones with their last turns, an
agent's answer (to the customer's chat, through the outbox, once per request key) and giving a
conversation back to the bot. The faces check `handoff:answer`; the work is handoff_flow.py's.
A refused answer or release (unknown or closed hand-off) is audited as `handoff.refused`."""
from __future__ import annotations

import hashlib
import uuid
from typing import Any

from ..assistant import handoffs
from ..audit import actors
from ..auth.rbac import Principal
from ..gateway import outbox
from ..i18n.reasons import reason
from ..pipeline.handlers import handoff_flow
from ..pipeline.handlers.handoff import MAX_REPLY_CHARS
from .errors import Conflict, NotFound

LISTED = 50


def listing(runtime: Any) -> list[dict[str, Any]]:
    """The open hand-offs, then the latest closed ones, each with its conversation's last turns."""
    ctx = runtime.approvals.ctx
    timeout = handoff_flow.timeout_seconds(ctx)
    with runtime.db.read() as conn:
        return [{"id": row.id, "status": row.status if handoffs.is_open(row, timeout) or row.status not in
                 handoffs.OPEN else handoffs.EXPIRED, "channel": row.channel, "chat_id": row.chat_id,
                 "user_id": row.user_id, "user_name": row.user_name, "conversation": row.conversation_key,
                 "via": row.via, "agent": row.agent, "replies": row.replies, "requested_at": row.requested_at,
                 "updated_at": row.updated_at, "closed_at": row.closed_at,
                 "turns": handoff_flow.turns_of(conn, ctx, row.conversation_key)}
                for row in handoffs.recent(conn, LISTED)]


def open_for(runtime: Any, conversation_key: str) -> int | None:
    """The open hand-off of a conversation (for the page's reply box), None when the bot answers it."""
    with runtime.db.read() as conn:
        row = handoffs.open_for(conn, conversation_key, handoff_flow.timeout_seconds(runtime.approvals.ctx))
    return None if row is None else int(row.id)


def reply(runtime: Any, caller: Principal, handoff_id: int, text: str, request_key: str = "", via: str = "api") -> str:
    """Send an agent's answer; the same `request_key` (an Idempotency-Key) sends it once. Returns
    'sent' or 'duplicate'."""
    key = f"{via}:" + (hashlib.sha256(request_key.encode()).hexdigest()[:32] if request_key else uuid.uuid4().hex)
    status, ids = handoff_flow.answer(runtime.approvals.ctx, handoff_id, actors.of_user(caller.name), caller.name,
                                      text[:MAX_REPLY_CHARS], key, via)
    _refuse_unless_done(runtime, caller, handoff_id, status, via)
    _deliver(runtime, ids)
    return status


def release(runtime: Any, caller: Principal, handoff_id: int, via: str = "api") -> None:
    status, ids = handoff_flow.release(runtime.approvals.ctx, handoff_id, actors.of_user(caller.name), caller.name,
                                       via)
    _refuse_unless_done(runtime, caller, handoff_id, status, via)
    _deliver(runtime, ids)


def _refuse_unless_done(runtime: Any, caller: Principal, handoff_id: int, status: str, via: str) -> None:
    if status not in (handoff_flow.NOT_FOUND, handoff_flow.CLOSED):
        return
    handoff_flow.refused(runtime.approvals.ctx, actors.of_user(caller.name), handoff_id, status, via)
    if status == handoff_flow.NOT_FOUND:
        raise NotFound(reason("reason.handoff.missing", id=handoff_id))
    raise Conflict(reason("reason.handoff.closed", id=handoff_id))


def _deliver(runtime: Any, ids: list[int]) -> None:
    for row_id in ids:
        runtime.dispatch.soon(outbox.KIND, row_id)
