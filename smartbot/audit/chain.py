"""The keyed hash chain: how a row's hash is computed, appended under a lock, and verified.

Each row's hash is an HMAC-SHA256, with an audit key kept outside the database (keys.py), of the
previous row's hash and the row's content; the head row (`audit_head`) holds the last sequence
number and hash with an HMAC of its own, so cutting rows off the end is detected too. A change of
key is a row of its own (`audit.key_rotated`, naming the new key's id and the previous one's), and
the rows before the keyed chain began (databases from before it) carry plain SHA-256 hashes:
"legacy" rows, sealed by the first marker but rewritable, together with everything after them,
by anyone who can write the database. This module never writes a key anywhere, only key ids.
"""
from __future__ import annotations

import hashlib
import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..storage.tables import AuditHead, AuditLog
from . import keys
from .keys import AuditKey, AuditKeyError, Keyring

log = logging.getLogger("smartbot.audit")

GENESIS = "0" * 64
LEGACY = "legacy"
MARKER = "audit.key_rotated"
_log = AuditLog.__table__
_head = AuditHead.__table__
_BUMP_HEAD = sa.text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash, key_id")
_LOCK_HEAD = sa.text("UPDATE audit_head SET seq = seq WHERE id = 1 RETURNING seq, hash, key_id")
_INSERT = sa.text("INSERT INTO audit_log (seq, ts, actor, action, target, result, details, prev_hash, hash) "
                  "VALUES (:seq, :ts, :actor, :action, :target, :result, :details, :prev_hash, :hash)")
_SET_HEAD = sa.text("UPDATE audit_head SET hash = :hash, key_id = :key_id, mac = :mac WHERE id = 1")


def row_body(seq: int, ts: float, actor: str, action: str, target: str, result: str, details: str) -> str:
    return json.dumps([seq, repr(ts), actor, action, target, result, details], ensure_ascii=False,
                      separators=(",", ":"))


def plain_hash(prev_hash: str, body: str) -> str:
    """A legacy row's hash (before the keyed chain): anyone can compute it."""
    return hashlib.sha256((prev_hash + body).encode("utf-8")).hexdigest()


def keyed_hash(key: AuditKey, prev_hash: str, body: str) -> str:
    return key.sign(prev_hash + body)


def head_mac(key: AuditKey, seq: int, last_hash: str) -> str:
    return key.sign(f"audit_head:{seq}:{last_hash}")


def log_event(ts: float, actor: str, action: str, target: str, result: str, details: Any) -> None:
    """The event as one JSON line on the `smartbot.audit` logger (and [audit] log_file)."""
    log.info("%s", json.dumps({"ts": ts, "actor": actor, "action": action, "target": target, "result": result,
                               "details": details}, ensure_ascii=False, default=str))


def append(conn: Connection, actor: str, action: str, target: str, result: str,
           details: dict[str, Any], ts: float | None = None) -> int:
    """Append one row inside the caller's write transaction; returns its sequence number.

    The UPDATE of the head row comes first: it takes the lock (SQLite's write lock, PostgreSQL's
    row lock) that keeps two writers from chaining onto the same previous hash. When the chain is
    still legacy, or under a key older than this process's current one, a marker row goes first.
    """
    ts = time.time() if ts is None else ts
    detail_text = json.dumps(details, ensure_ascii=False, sort_keys=True, default=str)
    seq, prev, head_key = conn.execute(_BUMP_HEAD).one()
    seq = int(seq)
    key = keys.active().current
    if head_key != key.id:
        key = _signing_key(head_key)
        if _moves(head_key, key, rows_before=seq - 1):
            prev = _write_marker(conn, seq, prev, ts, key, head_key)
            seq = int(conn.execute(_BUMP_HEAD).one()[0])
    digest = _write(conn, key, seq, prev, ts, actor, action, target, result, detail_text)
    conn.execute(_SET_HEAD, {"hash": digest, "key_id": key.id, "mac": head_mac(key, seq, digest)})
    return seq


def open_chain(conn: Connection) -> None:
    """At start, inside a write transaction: refuse a chain whose key this process cannot have,
    and move a legacy chain (or one under an older key) to the current key now, so the boundary
    is where the upgrade or the rotation happened."""
    seq, prev, head_key = conn.execute(_LOCK_HEAD).one()
    current = keys.active().current
    if head_key == current.id:
        return
    key = _signing_key(head_key)
    if _moves(head_key, key, rows_before=int(seq)):
        _move_to(conn, key, head_key, prev)


def _moves(head_key: str, key: AuditKey, rows_before: int) -> bool:
    """Whether signing with `key` needs a marker first: the chain is under another key, or has
    legacy rows. An empty chain starts under the key without one."""
    return head_key != key.id and bool(head_key or rows_before > 0)


def rotate(conn: Connection, key: AuditKey, previous_key_lost: bool = False) -> int:
    """Move the chain to `key` (already installed) with a marker row; its sequence number."""
    _, prev, head_key = conn.execute(_LOCK_HEAD).one()
    return _move_to(conn, key, head_key, prev, previous_key_lost)


def head_key(conn: Connection) -> str:
    """The id of the key the chain is under ("" while it is legacy or empty), read only."""
    return conn.execute(sa.select(_head.c.key_id).where(_head.c.id == 1)).scalar() or ""


def lock_head(conn: Connection) -> str:
    """Take the head lock (inside a write transaction); the id of the key the chain is under."""
    return conn.execute(_LOCK_HEAD).one()[2] or ""


def _move_to(conn: Connection, key: AuditKey, head_key: str, prev: str, previous_key_lost: bool = False) -> int:
    seq = int(conn.execute(_BUMP_HEAD).one()[0])
    digest = _write_marker(conn, seq, prev, time.time(), key, head_key, previous_key_lost)
    conn.execute(_SET_HEAD, {"hash": digest, "key_id": key.id, "mac": head_mac(key, seq, digest)})
    return seq


def _write_marker(conn: Connection, seq: int, prev: str, ts: float, key: AuditKey, head_key: str,
                  previous_key_lost: bool = False) -> str:
    details: dict[str, Any] = {"key_id": key.id, "previous_key_id": head_key or LEGACY}
    if previous_key_lost:
        details["previous_key_lost"] = True
    text = json.dumps(details, ensure_ascii=False, sort_keys=True)
    digest = _write(conn, key, seq, prev, ts, "system", MARKER, f"audit-key:{key.id}", "ok", text)
    log_event(ts, "system", MARKER, f"audit-key:{key.id}", "ok", details)
    return digest


def _write(conn: Connection, key: AuditKey, seq: int, prev: str, ts: float, actor: str, action: str, target: str,
           result: str, details: str) -> str:
    digest = keyed_hash(key, prev, row_body(seq, ts, actor, action, target, result, details))
    conn.execute(_INSERT, {"seq": seq, "ts": ts, "actor": actor, "action": action, "target": target,
                           "result": result, "details": details, "prev_hash": prev, "hash": digest})
    return digest


def _signing_key(head_key: str) -> AuditKey:
    """The key new rows are signed with, given the key the chain is under now. The key file is
    read again when the chain names a key this process does not hold (another one rotated)."""
    keyring = keys.active()
    if head_key and keyring.get(head_key) is None:
        keyring = keyring.reloaded()
        keys.install(keyring)
        if keyring.get(head_key) is None:
            raise unavailable(head_key, keyring)
    return keyring.current


def unavailable(key_id: str, keyring: Keyring) -> AuditKeyError:
    """The chain is under a key this process cannot have: say how to keep the log verifiable."""
    lost = "if it is lost for good, run `smartbot audit rotate-key --previous-key-lost`"
    if keyring.key_file:
        return AuditKeyError("audit.key_file", f"{keyring.key_file} does not hold audit key {key_id}, which signs "
                             "the newest rows of the audit log", f"restore the file from a backup; {lost}")
    return AuditKeyError("secret_key_env", f"the audit log is signed with audit key {key_id}, which this signing "
                         "key does not give (was the signing key changed, or [audit] key_file left out?)",
                         "start with the previous signing key, set [audit] key_file and run `smartbot audit "
                         "rotate-key` (the file keeps the audit key), then change the signing key; " + lost)


# -- verification -------------------------------------------------------------------------------

@dataclass
class Stretch:
    """Consecutive rows under one key: `key_id` is LEGACY for plain SHA-256 rows; `lost` when the
    key was declared lost and the rows can only be checked for their links."""

    first: int
    last: int
    key_id: str
    lost: bool = False

    @property
    def rows(self) -> int:
        return self.last - self.first + 1


@dataclass
class VerifyResult:
    ok: bool
    rows: int
    problem: str = ""
    bad_seq: int | None = None
    stretches: list[Stretch] = field(default_factory=list)
    current_key: str = ""
    key_source: str = ""

    @property
    def legacy_rows(self) -> int:
        return sum(s.rows for s in self.stretches if s.key_id == LEGACY)

    @property
    def unverifiable_rows(self) -> int:
        return sum(s.rows for s in self.stretches if s.lost)


@dataclass
class _Marker:
    key_id: str
    previous_key_id: str
    lost: bool


class _Walk:
    """The state of one verification pass: which key the rows are under, and the stretches seen."""

    def __init__(self, keyring: Keyring, markers: dict[int, _Marker | None]) -> None:
        self.keyring = keyring
        self.markers = markers
        first = markers[min(markers)] if markers else None
        self.key_id: str | None = first.previous_key_id if first is not None else None
        self.lost_keys = {m.previous_key_id for m in markers.values() if m is not None and m.lost}
        self.stretches: list[Stretch] = []

    def check(self, row: Row[Any]) -> str:
        """'' when the row is what was written under the key its stretch names; else the problem."""
        body = row_body(row.seq, row.ts, row.actor, row.action, row.target, row.result, row.details)
        if row.seq in self.markers:
            return self._marker(row, body)
        if self.key_id is None:
            self.key_id = self._first_key(row, body)
            if self.key_id is None:
                return (f"row {row.seq} was changed after it was written, or is signed with an audit key not in "
                        f"the keyring ({self.keyring.source})")
        if self.key_id == LEGACY:
            self._extend(row.seq, LEGACY)
            return "" if plain_hash(row.prev_hash, body) == row.hash else \
                f"row {row.seq} was changed after it was written"
        key = self.keyring.get(self.key_id)
        if key is None:
            if self.key_id in self.lost_keys:
                self._extend(row.seq, self.key_id, lost=True)
                return ""
            return (f"row {row.seq} is signed with audit key {self.key_id}, which is not in the keyring "
                    f"({self.keyring.source})")
        self._extend(row.seq, self.key_id)
        if keyed_hash(key, row.prev_hash, body) == row.hash:
            return ""
        if plain_hash(row.prev_hash, body) == row.hash:
            return f"row {row.seq} was rewritten in the database: its hash is plain SHA-256, not keyed"
        return f"row {row.seq} was changed after it was written"

    def _marker(self, row: Row[Any], body: str) -> str:
        marker = self.markers[row.seq]
        if marker is None:
            return f"row {row.seq} (a key rotation marker) was changed after it was written"
        if self.key_id is not None and marker.previous_key_id != self.key_id:
            return (f"row {row.seq} says the rows before it were signed with {marker.previous_key_id}, "
                    f"but they were signed with {self.key_id}")
        key = self.keyring.get(marker.key_id)
        if key is None:
            return (f"row {row.seq} moves the chain to audit key {marker.key_id}, which is not in the keyring "
                    f"({self.keyring.source})")
        self.key_id = marker.key_id
        self._extend(row.seq, marker.key_id, new=True)
        return "" if keyed_hash(key, row.prev_hash, body) == row.hash else \
            f"row {row.seq} was changed after it was written"

    def _first_key(self, row: Row[Any], body: str) -> str | None:
        """No marker names the first rows' key: they are legacy, or under one of the keyring's keys."""
        if plain_hash(row.prev_hash, body) == row.hash:
            return LEGACY
        return next((k.id for k in self.keyring.keys.values() if keyed_hash(k, row.prev_hash, body) == row.hash),
                    None)

    def _extend(self, seq: int, key_id: str, lost: bool = False, new: bool = False) -> None:
        last = self.stretches[-1] if self.stretches else None
        if last is not None and not new and last.key_id == key_id and last.last == seq - 1:
            last.last = seq
        else:
            self.stretches.append(Stretch(seq, seq, key_id, lost))


def verify(conn: Connection, keyring: Keyring | None = None, batch: int = 5000) -> VerifyResult:
    """Recompute every hash from the first row; report the first row that does not fit."""
    keyring = keyring or keys.active()
    walk = _Walk(keyring, _markers(conn))
    prev, expected_seq, count = GENESIS, 1, 0

    def result(ok: bool, problem: str = "", bad_seq: int | None = None) -> VerifyResult:
        return VerifyResult(ok, count, problem, bad_seq, walk.stretches, keyring.current.id, keyring.source)

    for row in _iter_rows(conn, batch):
        if row.seq != expected_seq:
            return result(False, f"row {expected_seq} is missing (found {row.seq} next)", expected_seq)
        if row.prev_hash != prev:
            return result(False, f"row {row.seq} does not link to the row before it", row.seq)
        problem = walk.check(row)
        if problem:
            return result(False, problem, row.seq)
        prev, expected_seq, count = row.hash, expected_seq + 1, count + 1
    head = conn.execute(sa.select(_head).where(_head.c.id == 1)).one_or_none()
    if head is None:
        return result(False, "the chain head is missing")
    if head.seq != count or head.hash != prev:
        return result(False, f"the log ends at row {count} but the head says {head.seq}: rows were removed from the "
                      "end", count + 1)
    last_key = walk.key_id if count else None
    if last_key in (None, LEGACY):
        if head.key_id:
            return result(False, f"the head says the chain is under audit key {head.key_id}, but the last row is "
                          "legacy: rows were removed from the end", count + 1)
        return result(True)
    key = keyring.get(last_key or "")
    if key is not None and (head.key_id != last_key or head.mac != head_mac(key, head.seq, head.hash)):
        return result(False, f"the chain head was changed (it no longer matches row {count}): rows were removed "
                      "from the end", count + 1)
    return result(True)


def _markers(conn: Connection) -> dict[int, _Marker | None]:
    """Every key rotation marker by sequence number (None for one whose details do not read)."""
    found: dict[int, _Marker | None] = {}
    for seq, details in conn.execute(sa.select(_log.c.seq, _log.c.details).where(_log.c.action == MARKER)):
        try:
            info = json.loads(details)
            found[seq] = _Marker(str(info["key_id"]), str(info["previous_key_id"]),
                                 info.get("previous_key_lost") is True)
        except (ValueError, KeyError, TypeError):
            found[seq] = None
    return found


def _iter_rows(conn: Connection, batch: int) -> Iterator[Any]:
    last = 0
    while True:
        rows = conn.execute(sa.select(_log).where(_log.c.seq > last).order_by(_log.c.seq).limit(batch)).all()
        if not rows:
            return
        yield from rows
        last = rows[-1].seq
