"""Rows this process has just written and leased to itself, handed to the job that works them.

The webhook stores a message leased to its own process and queues a job with the row's id; the
job would read the row back (one more transaction and a JSON decode per message, and the same
again for each reply `complete` leases). The writer already holds everything the row says, so it
leaves a copy here and the job takes it instead. A row nobody takes (its job was handed back at
shutdown) expires with its lease; a job that finds nothing here reads the row as before. Whether
the lease still holds is checked where it always was: by the writes that finish the row.
"""
from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from typing import Any

from cachetools import TTLCache

from ..models.queues import LEASED


@dataclass
class LeasedRow:
    """What the worker reads of an inbox or outbox row it holds the lease of."""

    id: int
    owner: str
    order_key: str
    channel: str
    attempts: int = 1                   # a row leased as it is written is on its first attempt
    status: str = LEASED
    created_at: float = field(default_factory=time.time)


class Handoff:
    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._rows: TTLCache = TTLCache(maxsize=max(1, max_entries), ttl=max(1.0, ttl_seconds))
        self._lock = threading.Lock()

    def put(self, kind: str, row: LeasedRow, payload: Any) -> None:
        with self._lock:
            self._rows[(kind, row.id)] = (row, payload)

    def take(self, kind: str, row_id: int) -> tuple[LeasedRow, Any] | None:
        with self._lock:
            return self._rows.pop((kind, row_id), None)
