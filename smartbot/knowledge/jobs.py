"""The worker pool's side of knowledge spaces, the same for every job backend: index a document,
renew the leases of the documents this process indexes, and hand out the waiting ones (new
uploads, and those a dead process left half done) at every sweep.

The index remembers which Chinese segmenter built it (a runtime setting): questions are cut the way
this process cuts them, so when that changes (jieba installed or removed) every ready document is
indexed again. Every node should have the same choice, or they would take turns rebuilding it."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

from ..jobs.local import Dispatch
from ..storage.runtime_settings import get_setting, set_setting
from . import segment, store
from .embeddings import Embedder
from .indexer import Indexer
from .settings import KnowledgeSettings

KNOWLEDGE = "knowledge"
SEGMENTER_KEY = "knowledge.segmenter"
log = logging.getLogger(__name__)


class KnowledgeJobs:
    def __init__(self, db: Any, settings: KnowledgeSettings, embedder: Embedder, owner: str, lease_seconds: float,
                 dispatch: Dispatch) -> None:
        self.db = db
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.dispatch = dispatch
        self.indexer = Indexer(db, settings, embedder, owner, lease_seconds)
        self.segmenter = segment.configure(settings.chinese_segmenter)
        self._segmenter_checked = False
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

    def _check_segmenter(self) -> None:
        """Index again what another segmenter indexed (an index older than the setting was bigrams)."""
        with self.db.write() as conn:
            previous = get_setting(conn, SEGMENTER_KEY) or "bigrams"
            if previous != self.segmenter:
                count = store.requeue_ready(conn)
                set_setting(conn, self.db, SEGMENTER_KEY, self.segmenter)
                if count:
                    log.warning("knowledge: the Chinese segmenter changed from %s to %s; indexing %d documents "
                                "again", previous, self.segmenter, count)
        self._segmenter_checked = True

    def recover(self) -> list[int]:
        if not self._segmenter_checked:
            self._check_segmenter()
        with self.db.read() as conn:
            ids = store.waiting(conn, time.time())
        with self._lock:
            ids = [i for i in ids if i not in self._active]
        if ids:
            self.dispatch(KNOWLEDGE, ids, 0.0)
        return ids
