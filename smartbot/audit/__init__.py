"""The audit log: `record()` who did what to what, with what result, into the keyed hash chain.

Imported by every layer and importing none of them. Details are redacted before they are stored
or logged, so a secret passed by mistake never lands in the log. Each event is also written as a
JSON line to the `smartbot.audit` logger (and to `[audit] log_file` when set). The chain's keys
live outside the database (keys.py); chain.py says how rows are hashed and verified.
"""
from __future__ import annotations

import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from . import chain, keys
from .events import EVENTS, is_known
from ..telemetry.redact import redact

__all__ = ["AuditEvent", "record", "record_all", "verify", "EVENTS", "redact", "keys"]


@dataclass
class AuditEvent:
    action: str
    actor: str
    target: str = ""
    result: str = "ok"
    details: dict[str, Any] = field(default_factory=dict)
    ts: float = field(default_factory=time.time)


def record(conn: Connection, action: str, actor: str, target: str = "", result: str = "ok",
           details: dict[str, Any] | None = None) -> int:
    """Append one event inside the caller's write transaction, after the fact it records."""
    return record_all(conn, [AuditEvent(action, actor, target, result, details or {})])[-1]


def record_all(conn: Connection, events: list[AuditEvent]) -> list[int]:
    seqs = []
    for ev in events:
        if not is_known(ev.action):
            raise ValueError(f"unregistered audit event {ev.action!r}; add it to audit/events.py")
        details = redact(ev.details)
        seqs.append(chain.append(conn, ev.actor, ev.action, ev.target, ev.result, details, ev.ts))
        chain.log_event(ev.ts, ev.actor, ev.action, ev.target, ev.result, details)
    return seqs


def open_log(db: Any, signing_key: str, key_file: str = "") -> keys.Keyring:
    """At start: load this process's audit keys (once), refuse to go on when the chain is under
    a key they do not include (ConfigError with the fix), and move a legacy chain, or one under
    an older key, to the current key with a marker row. `db` is a smartbot.storage.db.Database."""
    keyring = keys.load(signing_key, key_file)
    keys.install(keyring)
    with db.write() as conn:
        chain.open_chain(conn)
    return keyring


def verify(conn: Connection, keyring: keys.Keyring | None = None) -> chain.VerifyResult:
    return chain.verify(conn, keyring)

