"""Reading the audit log for admins: filters, pages, CSV export, and the chain check.

Rows are shown as they are stored (their hash covers every word); the name of who acted is read
at display time (manage/names.py), so one person has one name on the page and in the export."""
from __future__ import annotations

import csv
import io
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Row

from .. import audit
from ..audit.events import RESULTS
from ..i18n.reasons import reason
from ..storage.db import Database
from ..storage.tables import AuditLog
from . import names
from .errors import Invalid

_log = AuditLog.__table__
# ts: ISO 8601 in UTC; actor as stored (the hash covers it), actor_name as the admin page shows it.
CSV_COLUMNS = ("seq", "ts", "actor", "action", "target", "result", "details", "hash", "actor_name")
EXPORT_PAGE = 1000
ACTION_PATTERN = re.compile(r"[A-Za-z0-9_.*]{1,100}")
MAX_ACTOR = 200
# A spreadsheet reads a cell starting with one of these as a formula (=HYPERLINK(...), +cmd|...).
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


@dataclass(frozen=True)
class Filters:
    """What to show: `actor` exactly as stored, or `person` (every stored form of one user's name,
    see names.actor_forms); `action` with * as a wildcard; one `result`; a time window."""
    actor: str | None = None
    person: str | None = None
    action: str | None = None
    result: str | None = None
    since: float | None = None
    until: float | None = None

    def __post_init__(self) -> None:
        if self.result is not None and self.result not in RESULTS:
            raise Invalid(reason("reason.field.one_of", choices=', '.join(RESULTS)), "result")
        if self.action is not None and not ACTION_PATTERN.fullmatch(self.action):
            raise Invalid(reason("reason.audit.action"), "action")
        for name in ("actor", "person"):
            if len(getattr(self, name) or "") > MAX_ACTOR:
                raise Invalid(reason("reason.field.max_length", n=MAX_ACTOR), name)


def _query(conn: Any, filters: Filters, before_seq: int | None) -> sa.Select:
    query = sa.select(_log).order_by(_log.c.seq.desc())
    if filters.actor:
        query = query.where(_log.c.actor == filters.actor)
    if filters.person:
        query = query.where(_log.c.actor.in_(names.actor_forms(conn, filters.person)))
    action = filters.action
    if action and "*" in action:       # `_` is a letter of action names, not LIKE's one character
        query = query.where(_log.c.action.like(action.replace("_", "/_").replace("*", "%"), escape="/"))
    elif action:
        query = query.where(_log.c.action == action)
    if filters.result:
        query = query.where(_log.c.result == filters.result)
    if filters.since is not None:
        query = query.where(_log.c.ts >= filters.since)
    if filters.until is not None:
        query = query.where(_log.c.ts <= filters.until)
    if before_seq is not None:
        query = query.where(_log.c.seq < before_seq)
    return query


def _view(row: Row[Any]) -> dict[str, Any]:
    return {"seq": row.seq, "ts": row.ts, "actor": row.actor, "action": row.action, "target": row.target,
            "result": row.result, "details": json.loads(row.details or "{}"), "hash": row.hash}


def search(db: Database, filters: Filters = Filters(), before_seq: int | None = None,
           limit: int = 100, named: bool = False) -> list[dict[str, Any]]:
    """Events newest first; with `named`, each with `who` (names.Who) for the page."""
    with db.read() as conn:
        events = [_view(r) for r in conn.execute(_query(conn, filters, before_seq).limit(limit)).all()]
        return _named(conn, events) if named else events


def _named(conn: Any, events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    who = names.actors_named(conn, {e["actor"] for e in events})
    return [{**event, "who": who[event["actor"]]} for event in events]


def export_csv(db: Database, filters: Filters, locale: str = "en") -> Iterator[str]:
    """CSV lines, oldest first, read a page at a time; names read in `locale`."""
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_COLUMNS)
    yield buffer.getvalue()
    for page in _pages_oldest_first(db, filters):
        buffer.seek(0)
        buffer.truncate()
        for row in page:
            writer.writerow([csv_cell(value) for value in (
                row["seq"], iso_utc(row["ts"]), row["actor"], row["action"], row["target"], row["result"],
                json.dumps(row["details"], ensure_ascii=False, sort_keys=True), row["hash"], names.display(row["who"], locale))])
        yield buffer.getvalue()


def _pages_oldest_first(db: Database, filters: Filters) -> Iterator[list[dict[str, Any]]]:
    """The matching events in pages of EXPORT_PAGE, oldest first, each page its own short read."""
    after = -1
    while True:
        page = _page_after(db, filters, after)
        if not page:
            return
        yield page
        after = page[-1]["seq"]


def _page_after(db: Database, filters: Filters, after: int) -> list[dict[str, Any]]:
    with db.read() as conn:
        query = _query(conn, filters, None).where(_log.c.seq > after).order_by(None).order_by(_log.c.seq)
        return _named(conn, [_view(r) for r in conn.execute(query.limit(EXPORT_PAGE)).all()])


def iso_utc(ts: float) -> str:
    """A time as ISO 8601 in UTC, to the millisecond (what spreadsheets and log tools read)."""
    return datetime.fromtimestamp(ts, timezone.utc).isoformat(timespec="milliseconds").replace("+00:00", "Z")


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
