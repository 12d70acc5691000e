"""Ordered durable queues with leases: the mechanics the inbox and the outbox share.

Rows with the same `order_key` are worked one at a time, oldest first. A row is `queued` until an
owner leases it (only the head of its key may be leased), `leased` while one owner works it, and
`done` or `failed` at the end. A lease lasts until `lease_until`; a crashed owner's rows are taken
over when the lease expires, or at once when the owner was a process on this host that has died.
Every method runs inside the caller's write transaction and writes before it reads.

The statements are plain SQL that SQLite and PostgreSQL both accept, written once per table: on the
message path, building SQLAlchemy expressions cost three times what running them did.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Sequence

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .tables.queues import DONE, FAILED, LEASED, QUEUED
from .liveness import owner_is_dead

UNFINISHED = (QUEUED, LEASED)


@dataclass
class QueueRow:
    """What a worker reads of an inbox or outbox row (its payload aside): enough to work it and to
    finish it. A row the worker just wrote and leased to itself is on its first attempt."""

    id: int
    owner: str | None
    order_key: str
    channel: str
    attempts: int = 1
    status: str = LEASED
    created_at: float = field(default_factory=time.time)


class OrderedQueue:
    def __init__(self, table: sa.Table) -> None:
        self.t = table
        n = table.name
        head = (f"NOT EXISTS (SELECT 1 FROM {n} o WHERE o.order_key = {n}.order_key "
                f"AND o.status IN ('queued', 'leased') AND o.id < {n}.id)")
        lease_set = "status = 'leased', owner = :owner, lease_until = :until, attempts = attempts + 1"
        self._lease_one = sa.text(
            f"UPDATE {n} SET {lease_set} WHERE id = :id AND status = 'queued' AND next_attempt_at <= :now "
            f"AND {head} RETURNING id")
        self._lease_many = sa.text(
            f"UPDATE {n} SET {lease_set} WHERE id IN :ids AND status = 'queued' AND next_attempt_at <= :now "
            f"AND {head} RETURNING id").bindparams(sa.bindparam("ids", expanding=True))
        self._next_of_key = sa.text(
            f"SELECT id FROM {n} WHERE order_key = :key AND status IN ('queued', 'leased') ORDER BY id LIMIT 1")
        self._finish = sa.text(
            f"UPDATE {n} SET status = :status, owner = NULL, finished_at = :now, last_error = :error "
            f"WHERE id = :id AND owner = :owner AND status = 'leased'")
        self._retry = sa.text(
            f"UPDATE {n} SET status = 'queued', owner = NULL, lease_until = 0, next_attempt_at = :at, "
            f"last_error = :error WHERE id = :id AND owner = :owner AND status = 'leased'")
        self._renew = sa.text(f"UPDATE {n} SET lease_until = :until WHERE owner = :owner AND status = 'leased'")
        self._release = sa.text(
            f"UPDATE {n} SET status = 'queued', owner = NULL, lease_until = 0, attempts = attempts - 1 "
            f"WHERE id IN :ids AND owner = :owner AND status = 'leased'"
        ).bindparams(sa.bindparam("ids", expanding=True))
        self._owners = sa.text(f"SELECT owner, MIN(lease_until) FROM {n} WHERE status = 'leased' GROUP BY owner")
        self._take_over_all = sa.text(
            f"UPDATE {n} SET owner = :owner, lease_until = :until, attempts = attempts + 1 "
            f"WHERE owner = :old AND status = 'leased' RETURNING id")
        self._take_over_expired = sa.text(
            f"UPDATE {n} SET owner = :owner, lease_until = :until, attempts = attempts + 1 "
            f"WHERE owner = :old AND status = 'leased' AND lease_until < :now RETURNING id")
        self._due = sa.text(
            f"SELECT id FROM {n} WHERE status = 'queued' AND next_attempt_at <= :now AND created_at <= :born "
            f"AND {head} ORDER BY id LIMIT :limit")
        self._load = sa.text(f"SELECT id, owner, order_key, channel, attempts, status, created_at, payload "
                             f"FROM {n} WHERE id = :id")

    def lease_if_head(self, conn: Connection, ids: Sequence[int], owner: str, until: float,
                      now: float | None = None) -> list[int]:
        """Lease those of `ids` that are queued, due, and first in line for their key."""
        if not ids:
            return []
        params = {"owner": owner, "until": until, "now": time.time() if now is None else now}
        if len(ids) == 1:
            rows = conn.execute(self._lease_one, {**params, "id": ids[0]}).all()
        else:
            rows = conn.execute(self._lease_many, {**params, "ids": list(ids)}).all()
        return sorted(r[0] for r in rows)

    def lease_next(self, conn: Connection, order_key: str, owner: str, until: float) -> list[int]:
        """After finishing a row, take the next queued row of the same key (if it is due)."""
        nxt = conn.execute(self._next_of_key, {"key": order_key}).scalar()
        return self.lease_if_head(conn, [nxt], owner, until) if nxt is not None else []

    def finish(self, conn: Connection, row_id: int, owner: str, status: str = DONE, error: str = "") -> bool:
        """Mark a leased row finished; False when the lease was lost (someone else owns it now)."""
        res = conn.execute(self._finish, {"status": status, "now": time.time(), "error": error[:500],
                                          "id": row_id, "owner": owner})
        return res.rowcount == 1

    def retry_later(self, conn: Connection, row_id: int, owner: str, at: float, error: str) -> bool:
        """Give the row back, due again at `at`; it stays first in line for its key."""
        return conn.execute(self._retry, {"at": at, "error": error[:500], "id": row_id,
                                          "owner": owner}).rowcount == 1

    def renew(self, conn: Connection, owner: str, until: float) -> int:
        return conn.execute(self._renew, {"until": until, "owner": owner}).rowcount

    def release_all(self, conn: Connection, owner: str, ids: Sequence[int]) -> int:
        """Hand back rows this owner leased but never started (graceful stop)."""
        if not ids:
            return 0
        return conn.execute(self._release, {"ids": list(ids), "owner": owner}).rowcount

    # -- recovery -------------------------------------------------------------------------
    def stale_owners(self, conn: Connection, now: float) -> list[str]:
        """Owners holding leases that can be taken over: expired, or dead on this host."""
        rows = conn.execute(self._owners).all()
        return [r[0] for r in rows if r[0] and (r[1] < now or owner_is_dead(r[0]))]

    def take_over(self, conn: Connection, old_owner: str, owner: str, until: float, now: float,
                  dead: bool) -> list[int]:
        """Lease to `owner` the rows of a stale owner (all of them if dead, else the expired ones)."""
        stmt = self._take_over_all if dead else self._take_over_expired
        rows = conn.execute(stmt, {"owner": owner, "until": until, "old": old_owner, "now": now}).all()
        return sorted(r[0] for r in rows)

    def due_heads(self, conn: Connection, now: float, limit: int, min_age: float = 0.0) -> list[int]:
        """Queued rows that are due and first in line for their key, oldest first."""
        return [r[0] for r in conn.execute(self._due, {"now": now, "born": now - min_age, "limit": limit}).all()]

    def load_one(self, conn: Connection, row_id: int) -> tuple[QueueRow, str] | None:
        """The row and its payload (JSON text), or None when there is no such row."""
        row = conn.execute(self._load, {"id": row_id}).first()
        if row is None:
            return None
        return QueueRow(row.id, row.owner, row.order_key, row.channel, row.attempts, row.status,
                        row.created_at), row.payload

    # -- reporting and retention (off the message path) ---------------------------------------
    def depth(self, conn: Connection) -> dict[str, int]:
        t = self.t
        rows = conn.execute(sa.select(t.c.status, sa.func.count()).where(t.c.status.in_(UNFINISHED))
                            .group_by(t.c.status)).all()
        return {r[0]: int(r[1]) for r in rows}

    def oldest_unfinished_age(self, conn: Connection, now: float) -> float:
        t = self.t
        oldest = conn.execute(sa.select(sa.func.min(t.c.created_at)).where(t.c.status.in_(UNFINISHED))).scalar()
        return max(0.0, now - oldest) if oldest else 0.0

    def purge_finished(self, conn: Connection, before: float) -> int:
        t = self.t
        return conn.execute(sa.delete(t).where(t.c.status.in_((DONE, FAILED)), t.c.finished_at < before)).rowcount
