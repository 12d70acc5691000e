"""Indexing one document on the worker pool: claim its row, extract its text (PDFs), cut it into
chunks, embed them when a provider is configured, write chunks and their full-text terms in
batches with the progress, and mark it ready (or failed, with the reason).

A process that dies part way leaves the row `indexing` under a lease; whoever claims it next
starts over (its chunks so far are removed first), and a search only ever sees chunks of ready
documents. A document removed or replaced meanwhile is noticed at the next batch and left alone.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from . import fts, store
from .chunking import chunk
from .embeddings import Embedder
from .extract import Unreadable, pdf_text
from .settings import KnowledgeSettings
from .terms import terms

log = logging.getLogger(__name__)

BATCH = 200         # chunks written per transaction


class Indexer:
    def __init__(self, db: Any, settings: KnowledgeSettings, embedder: Embedder, owner: str,
                 lease_seconds: float) -> None:
        self.db = db
        self.settings = settings
        self.embedder = embedder
        self.owner = owner
        self.lease_seconds = lease_seconds

    def _lease(self) -> float:
        return time.time() + self.lease_seconds

    def index(self, document_id: int) -> bool:
        """Index the document if it is waiting; False when someone else has it (or it is gone)."""
        with self.db.write() as conn:
            if not store.claim(conn, document_id, self.owner, self._lease(), time.time()):
                return False
            row = store.get_document(conn, document_id, with_body=True)
            store.remove_chunks(conn, document_id)          # what a dead indexer left
        try:
            text = row.text if row.text is not None else pdf_text(bytes(row.content or b""), self._pages_read(row.id))
            if not text.strip():
                raise Unreadable("no text could be read from it")
            if len(text) > self.settings.max_text_chars:
                raise Unreadable(f"its text is longer than [knowledge] max_text_chars ({self.settings.max_text_chars})")
            count = self._write_chunks(row, text)
        except Unreadable as exc:
            self._finish(document_id, {"status": "failed", "error": str(exc.reason)[:500], "content": None})
            return True
        if count is not None:
            self._finish(document_id, {"status": "ready", "progress": 100, "chunks": count, "text": text,
                                       "content": None})
        return True

    def _pages_read(self, document_id: int) -> Any:
        """The progress callback of PDF extraction: its first third of the bar."""
        def progress(done: int, total: int) -> None:
            if done % 20 == 0 or done == total:
                with self.db.write() as conn:
                    store.set_progress(conn, document_id, self.owner, int(33 * done / max(total, 1)), self._lease())
        return progress

    def _write_chunks(self, row: Any, text: str) -> int | None:
        """The number of chunks written; None when the document was removed or taken meanwhile."""
        pieces = chunk(text, self.settings.chunk_chars, self.settings.chunk_overlap)
        total = len(pieces)
        for at in range(0, total, BATCH):
            batch = pieces[at:at + BATCH]
            vectors = self.embedder.embed([p.text for p in batch]) or [None] * len(batch)
            with self.db.write() as conn:
                if not store.held(conn, row.id, self.owner):
                    return None
                ids = store.add_chunks(conn, row.id, [{"space_id": row.space_id, "document_id": row.id, "position": at + i,
                                               "heading": p.heading, "text": p.text, "embedding": v}
                                              for i, (p, v) in enumerate(zip(batch, vectors))])
                fts.add(conn, ((cid, row.space_id, terms(f"{row.title}\n{p.text}")) for cid, p in zip(ids, batch)))
                done = min(total, at + BATCH)
                store.set_progress(conn, row.id, self.owner, 33 + int(66 * done / max(total, 1)), self._lease())
        return total

    def _finish(self, document_id: int, values: dict[str, Any]) -> None:
        with self.db.write() as conn:
            if not store.finish(conn, document_id, self.owner, values):
                log.info("knowledge document %s changed hands while indexing; left as it is", document_id)
