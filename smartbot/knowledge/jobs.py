"""The worker pool's side of knowledge spaces, the same for every job backend: index a document,
renew the leases of the documents this process indexes, and hand out the waiting ones (new
uploads, and those a dead process left half done) at every sweep."""
from __future__ import annotations

import threading
import time
from typing import Any

from ..jobs.local import Dispatch
from . import store
from .embeddings import Embedder
from .indexer import Indexer
from .settings import KnowledgeSettings

KNOWLEDGE = "knowledge"


class KnowledgeJobs:
    def __init__(self, db: Any, settings: KnowledgeSettings, embedder: Embedder, owner: str, lease_seconds: float,
                 dispatch: Dispatch) -> None:
        self.db = db
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.dispatch = dispatch
        self.indexer = Indexer(db, settings, embedder, owner, lease_seconds)
        self._active: set[int] = set()
        self._lock = threading.Lock()

    def run(self, document_id: int) -> None:
        with self._lock:
            if document_id in self._active:
                return
            self._active.add(document_id)
        try:
            self.indexer.index(document_id)
        finally:
            with self._lock:
                self._active.discard(document_id)

    def renew(self) -> None:
        with self._lock:
            active = sorted(self._active)
        if active:
            with self.db.write() as conn:
                store.renew(conn, self.owner, time.time() + self.lease_seconds, active)

    def recover(self) -> list[int]:
        with self.db.read() as conn:
            ids = store.waiting(conn, time.time())
        with self._lock:
            ids = [i for i in ids if i not in self._active]
        if ids:
            self.dispatch(KNOWLEDGE, ids, 0.0)
        return ids
