"""The inbox and outbox as an operator sees them: how deep, how old, what failed; and the two things
an operator may do to a failed (dead) entry: retry it, or drop it. The admin page and the API both
call this; the face checks `admin:queues` and CSRF, this module audits.

Only failed entries are touched, with conditional statements, so an entry that a worker still
holds, or that another admin retried a moment ago, is never taken from under them (404).
Only replies can be retried: a failed inbox message has already told its sender that it failed,
under the reply key a second handling would use, so handling it again would answer nobody. A
retried reply goes back to the head of its chat's queue with its attempts reset and is handed to
the workers at once. Dropping deletes the row; the audit row keeps what it was (never its text).
"""
from __future__ import annotations

import time
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import audit
from ..auth.rbac import Principal
from ..gateway import inbox, outbox
from ..manage import changes, state
from ..manage.errors import Invalid, NotFound
from ..storage.queue import OrderedQueue
from ..storage.tables.queues import FAILED

QUEUES: dict[str, tuple[Any, Callable[..., list[dict]]]] = {
    "inbox": (inbox, state.inbox_rows),
    "outbox": (outbox, state.outbox_rows),
}
RETRYABLE = ("outbox",)
MAX_LISTED = 500
MAX_ID = 2**63 - 1


def overview(db: Any, now: float | None = None) -> dict[str, dict[str, Any]]:
    """Per queue: unfinished rows (`depth`, and by status), the oldest one's age, the failed ones."""
    now = time.time() if now is None else now
    out: dict[str, dict[str, Any]] = {}
    with db.read() as conn:
        for name, (module, _) in QUEUES.items():
            queue: OrderedQueue = module.queue
            by_status = queue.depth(conn)
            out[name] = {"depth": sum(by_status.values()), "by_status": by_status,
                         "oldest_age": round(queue.oldest_unfinished_age(conn, now), 3),
                         "failed": _failed_count(conn, queue.t)}
    return out


def failed(db: Any, which: str, limit: int = 100) -> list[dict[str, Any]]:
    """The queue's failed entries, newest first."""
    _module(which)
    return QUEUES[which][1](db, FAILED, None, max(1, min(limit, MAX_LISTED)))


def retry(runtime: Any, caller: Principal, which: str, row_id: int) -> dict[str, Any]:
    """Queue a failed reply again (due now, attempts from zero) and hand it to the workers."""
    _module(which)
    if which not in RETRYABLE:
        raise Invalid("only failed replies (the outbox) can be retried: the sender of a failed inbox message "
                      "was already told it failed, so handling it again would answer nobody; drop it instead",
                      "queue")
    table = outbox.queue.t
    requeue = sa.update(table).values(status="queued", owner=None, lease_until=0.0, attempts=0,
                                      next_attempt_at=time.time(), finished_at=None, last_error="")
    with runtime.db.write() as conn:
        row = _change_failed(conn, requeue, table, which, row_id)
        audit.record(conn, "queue.retried", changes.actor_of(caller), f"{which}:{row_id}", "ok", _facts(row))
    runtime.dispatch.soon(outbox.KIND, row_id)
    return {"retried": row_id, "queue": which}


def drop(runtime: Any, caller: Principal, which: str, row_id: int) -> dict[str, Any]:
    """Delete a failed entry for good."""
    table = _module(which).queue.t
    with runtime.db.write() as conn:
        row = _change_failed(conn, sa.delete(table), table, which, row_id)
        audit.record(conn, "queue.dropped", changes.actor_of(caller), f"{which}:{row_id}", "ok", _facts(row))
    return {"dropped": row_id, "queue": which}


def _module(which: str) -> Any:
    if which not in QUEUES:
        raise NotFound(f"no queue named {which[:40]!r}: inbox or outbox")
    return QUEUES[which][0]


def _change_failed(conn: Connection, statement: Any, table: sa.Table, which: str, row_id: int) -> Any:
    """Run an UPDATE or DELETE on the entry only while it is failed; what it was before, or NotFound
    (also when another change got there between the read and the write)."""
    if not 0 < row_id <= MAX_ID:        # a larger number is no row, and no database integer either
        raise NotFound(f"the {which} has no entry {row_id}")
    failed_entry = (table.c.id == row_id, table.c.status == FAILED)
    row = conn.execute(sa.select(table.c.channel, table.c.order_key, table.c.attempts, table.c.last_error,
                                 table.c.created_at).where(*failed_entry)).first()
    if row is None or conn.execute(statement.where(*failed_entry)).rowcount != 1:
        raise NotFound(f"the {which} has no failed entry {row_id} (it may have been retried or dropped already)")
    return row


def _facts(row: Any) -> dict[str, Any]:
    return {"channel": row.channel, "chat": row.order_key, "attempts": row.attempts, "error": row.last_error,
            "created_at": row.created_at}


def _failed_count(conn: Connection, table: sa.Table) -> int:
    return int(conn.execute(sa.select(sa.func.count()).select_from(table).where(table.c.status == FAILED))
               .scalar() or 0)
