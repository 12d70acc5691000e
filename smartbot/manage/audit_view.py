"""Reading the audit log for admins: filters, pages, CSV export, and the chain check."""
from __future__ import annotations

import csv
import io
import json
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Row

from .. import audit
from ..storage.db import Database
from ..storage.tables import AuditLog

_log = AuditLog.__table__
CSV_COLUMNS = ("seq", "ts", "actor", "action", "target", "result", "details", "hash")
# A spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(...), +cmd|...).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _query(actor: str | None, action: str | None, since: float | None, until: float | None,
           before_seq: int | None) -> sa.Select:
    query = sa.select(_log).order_by(_log.c.seq.desc())
    if actor:
        query = query.where(_log.c.actor == actor)
    if action:
        query = query.where(_log.c.action.like(action.replace("*", "%")) if "*" in action else _log.c.action == action)
    if since is not None:
        query = query.where(_log.c.ts >= since)
    if until is not None:
        query = query.where(_log.c.ts <= until)
    if before_seq is not None:
        query = query.where(_log.c.seq < before_seq)
    return query


def _view(row: Row[Any]) -> dict[str, Any]:
    return {"seq": row.seq, "ts": row.ts, "actor": row.actor, "action": row.action, "target": row.target,
            "result": row.result, "details": json.loads(row.details or "{}"), "hash": row.hash}


def search(db: Database, actor: str | None = None, action: str | None = None, since: float | None = None,
           until: float | None = None, before_seq: int | None = None, limit: int = 100) -> list[dict[str, Any]]:
    with db.read() as conn:
        rows = conn.execute(_query(actor, action, since, until, before_seq).limit(limit)).all()
    return [_view(r) for r in rows]


def export_csv(db: Database, **filters: Any) -> Iterator[str]:
    """CSV lines, oldest first, streamed in pages so a long log never sits in memory at once."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    rows = search(db, limit=100000, **filters)
    for row in reversed(rows):
        buffer.seek(0)
        buffer.truncate()
        writer.writerow([csv_cell(value) for value in (
            row["seq"], row["ts"], row["actor"], row["action"], row["target"], row["result"],
            json.dumps(row["details"], ensure_ascii=False, sort_keys=True), row["hash"])])
        yield buffer.getvalue()


def csv_cell(value: Any) -> str:
    """The cell as a spreadsheet will show it: text. Anything starting like a formula gets a
    leading quote; actors, targets and details hold what callers chose (login names, chat ids)."""
    text = str(value)
    return "'" + text if text.startswith(FORMULA_STARTS) else text


def verify(db: Database) -> dict[str, Any]:
    with db.read() as conn:
        result = audit.verify(conn)
    return {"ok": result.ok, "rows": result.rows, "problem": result.problem, "bad_seq": result.bad_seq,
            "legacy_rows": result.legacy_rows, "unverifiable_rows": result.unverifiable_rows,
            "key_id": result.current_key,
            "stretches": [{"first": s.first, "last": s.last, "key_id": s.key_id, "lost": s.lost}
                          for s in result.stretches]}
