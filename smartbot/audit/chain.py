"""The hash chain: how a row's hash is computed, appended under a lock, and verified."""
from __future__ import annotations

import hashlib
import json
import time
from dataclasses import dataclass
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..models import AuditHead, AuditLog

GENESIS = "0" * 64
_log = AuditLog.__table__
_head = AuditHead.__table__
_BUMP_HEAD = sa.text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
_INSERT = sa.text("INSERT INTO audit_log (seq, ts, actor, action, target, result, details, prev_hash, hash) "
                  "VALUES (:seq, :ts, :actor, :action, :target, :result, :details, :prev_hash, :hash)")
_SET_HEAD = sa.text("UPDATE audit_head SET hash = :hash WHERE id = 1")


def row_hash(prev_hash: str, seq: int, ts: float, actor: str, action: str, target: str, result: str,
             details: str) -> str:
    body = json.dumps([seq, repr(ts), actor, action, target, result, details], ensure_ascii=False,
                      separators=(",", ":"))
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def append(conn: Connection, actor: str, action: str, target: str, result: str,
           details: dict[str, Any], ts: float | None = None) -> int:
    """Append one row inside the caller's write transaction; returns its sequence number.

    The UPDATE of the head row comes first: it takes the lock (SQLite's write lock, PostgreSQL's
    row lock) that keeps two writers from chaining onto the same previous hash.
    """
    ts = time.time() if ts is None else ts
    detail_text = json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)
    seq, prev = conn.execute(_BUMP_HEAD).one()
    seq = int(seq)
    digest = row_hash(prev, seq, ts, actor, action, target, result, detail_text)
    conn.execute(_INSERT, {"seq": seq, "ts": ts, "actor": actor, "action": action, "target": target,
                           "result": result, "details": detail_text, "prev_hash": prev, "hash": digest})
    conn.execute(_SET_HEAD, {"hash": digest})
    return seq


@dataclass
class VerifyResult:
    ok: bool
    rows: int
    problem: str = ""
    bad_seq: int | None = None


def verify(conn: Connection, batch: int = 5000) -> VerifyResult:
    """Recompute every hash from the first row; report the first row that does not fit."""
    prev, expected_seq, count = GENESIS, 1, 0
    for row in _iter_rows(conn, batch):
        if row.seq != expected_seq:
            return VerifyResult(False, count, f"row {expected_seq} is missing (found {row.seq} next)", expected_seq)
        if row.prev_hash != prev:
            return VerifyResult(False, count, f"row {row.seq} does not link to the row before it", row.seq)
        digest = row_hash(prev, row.seq, row.ts, row.actor, row.action, row.target, row.result, row.details)
        if digest != row.hash:
            return VerifyResult(False, count, f"row {row.seq} was changed after it was written", row.seq)
        prev, expected_seq, count = row.hash, expected_seq + 1, count + 1
    head = conn.execute(sa.select(_head.c.seq, _head.c.hash).where(_head.c.id == 1)).one_or_none()
    if head is None:
        return VerifyResult(False, count, "the chain head is missing")
    if head.seq != count or head.hash != prev:
        return VerifyResult(False, count, f"the log ends at row {count} but the head says {head.seq}: "
                            "rows were removed from the end", count + 1)
    return VerifyResult(True, count)


def _iter_rows(conn: Connection, batch: int) -> Iterator[Any]:
    last = 0
    while True:
        rows = conn.execute(sa.select(_log).where(_log.c.seq > last).order_by(_log.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
