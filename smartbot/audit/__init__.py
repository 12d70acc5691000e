"""The audit log: `record()` who did what to what, with what result, into the hash chain.

Imported by every layer and importing none of them. Details are redacted before they are stored
or logged, so a secret passed by mistake never lands in the log. Each event is also written as a
JSON line to the `smartbot.audit` logger (and to `[audit] log_file` when set).
"""
from __future__ import annotations

import json
import logging
import time
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy.engine import Connection

from . import chain
from .events import EVENTS, is_known
from .redact import redact

log = logging.getLogger("smartbot.audit")

__all__ = ["AuditEvent", "record", "record_all", "verify", "EVENTS", "redact"]


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
        log.info("%s", json.dumps({"ts": ev.ts, "actor": ev.actor, "action": ev.action, "target": ev.target,
                                   "result": ev.result, "details": details}, ensure_ascii=False, default=str))
    return seqs


def verify(conn: Connection) -> chain.VerifyResult:
    return chain.verify(conn)

