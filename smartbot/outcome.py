"""What handling one message decided: the replies, memory changes and audit events.

Handlers only decide; `gateway.inbox.complete` writes an Outcome in one transaction together with
marking the message done, so a crash can never leave a reply without its record or the reverse.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from .audit import AuditEvent


@dataclass
class Outcome:
    texts: list[str] = field(default_factory=list)
    format: str = "plain"
    remember: list[tuple[str, str]] = field(default_factory=list)   # (role, content) turns to keep
    reset_memory: bool = False
    audit: list[AuditEvent] = field(default_factory=list)
    provider: str = ""
    model: str = ""
    tokens: int = 0
    result: str = "ok"          # ok | denied | error, for the message.handled audit row
    follow_up: list[tuple[str, int]] = field(default_factory=list)   # (job kind, row id) to hand out once stored
    usage: list[Any] = field(default_factory=list)     # usage.Spent of the model calls made for it
