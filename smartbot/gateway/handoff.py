"""Taking the rows a job of this process works: the one it names, and those whose owner is gone.

The webhook stores a message leased to its own process and queues a job with the row's id; the
job would read the row back (one more transaction and a JSON decode per message, and the same
again for each reply a finished message leases). The writer already holds everything the row
says, so it leaves a copy in the `Handoff` and the job takes it instead. A row nobody takes (its
job was handed back at shutdown) expires with its lease; a job that finds nothing there reads the
row. Whether the lease still holds is checked where it always was: by the writes that finish the
row.

`Claims` is how a job takes its row (`working`), and how the upkeep takes over the rows of
owners that died or whose leases ran out (`recover`) and keeps this process's own (`renew`).
It never works a row itself.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Iterator

from cachetools import TTLCache

from ..storage.db import Database
from ..storage.liveness import owner_is_dead
from ..storage.queue import QueueRow
from . import inbox, outbox

log = logging.getLogger(__name__)

_TABLES = {inbox.KIND: inbox, outbox.KIND: outbox}


class Handoff:
    def __init__(self, max_entries: int, ttl_seconds: float) -> None:
        self._rows: TTLCache = TTLCache(maxsize=max(1, max_entries), ttl=max(1.0, ttl_seconds))
        self._lock = threading.Lock()

    def put(self, kind: str, row: QueueRow, payload: Any) -> None:
        with self._lock:
            self._rows[(kind, row.id)] = (row, payload)

    def take(self, kind: str, row_id: int) -> tuple[QueueRow, Any] | None:
        with self._lock:
            return self._rows.pop((kind, row_id), None)


class Claims:
    def __init__(self, db: Database, owner: str, lease_seconds: float, handoff: Handoff) -> None:
        self.db = db
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.handoff = handoff
        # Rows being worked in this process. Two jobs can name the same row (a retry's timer and
        # the recovery sweep both find it due); a lease held by this process cannot tell them apart.
        self._working: set[tuple[str, int]] = set()
        self._lock = threading.Lock()

    @contextlib.contextmanager
    def working(self, kind: str, row_id: int) -> Iterator[tuple[QueueRow, Any] | None]:
        """The row and its payload while this job works it; None when another job of this process
        works it already, or when this process neither holds its lease nor can take it."""
        key = (kind, row_id)
        with self._lock:
            mine = key not in self._working
            self._working.add(key)
        if not mine:
            yield None
            return
        try:
            yield self._own(kind, row_id)
        finally:
            with self._lock:
                self._working.discard(key)

    def _own(self, kind: str, row_id: int) -> tuple[QueueRow, Any] | None:
        """A row leased to this process as it is; a queued row (a retry that is due, or work handed
        out by another node) only once this process leased it, which it can when it is first in line."""
        handed = self.handoff.take(kind, row_id)
        if handed is not None:
            return handed
        table = _TABLES[kind]
        loaded = table.load(self.db, row_id)
        if loaded is None:
            return None
        if self._leased_here(loaded):
            return loaded
        if loaded[0].status != "queued":
            return None
        until = time.time() + self.lease_seconds
        if not self.db.run_write(lambda conn: table.queue.lease_if_head(conn, [row_id], self.owner, until)):
            # The sweep may have leased it to this process meanwhile, and the job it handed the row
            # to found this one working it and left: then it is this job's, or it would wait forever.
            loaded = table.load(self.db, row_id)
            return loaded if self._leased_here(loaded) else None
        return table.load(self.db, row_id)

    def _leased_here(self, loaded: tuple[QueueRow, Any] | None) -> bool:
        return loaded is not None and loaded[0].status == "leased" and loaded[0].owner == self.owner

    def recover(self, kind: str, limit: int = 500) -> list[int]:
        """Lease to this process the rows of owners that died or whose leases ran out, and queued
        rows that are due and first in line; their ids, for the caller to dispatch."""
        queue = _TABLES[kind].queue
        now = time.time()
        with self.db.read() as conn:
            stale = queue.stale_owners(conn, now)
            due = queue.due_heads(conn, now, limit)
        if not stale and not due:
            return []
        ids: list[int] = []
        until = now + self.lease_seconds
        with self.db.write() as conn:
            for old in stale:
                if old != self.owner:   # our own leases are in flight or in our queue
                    ids += queue.take_over(conn, old, self.owner, until, now, owner_is_dead(old))
            ids += queue.lease_if_head(conn, due, self.owner, until, now)
        if ids:
            log.info("recovered %d %s rows (stale owners: %s)", len(ids), kind, ", ".join(stale) or "none")
        return sorted(set(ids))

    def renew(self, kind: str) -> None:
        """Extend the leases this process holds on `kind` rows."""
        until = time.time() + self.lease_seconds
        with self.db.write() as conn:
            _TABLES[kind].queue.renew(conn, self.owner, until)
