"""Finding the chunks that answer a question, in the spaces a chat route names.

The question's terms (and, to rank, those of the conversation's last turn) go to the full-text
index; with embeddings configured, the question's vector is also compared with the spaces'
chunk vectors, and the two rankings are fused (reciprocal rank fusion). A chunk counts as
relevant when its score, the share of the question's terms it holds (or its cosine similarity,
when higher), reaches its space's `min_score`: the same number on SQLite and PostgreSQL. The
score orders the chunks, the fused ranking breaks its ties.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from . import fts, store
from .embeddings import Embedder, cosine, fuse, unpack
from .settings import KnowledgeSettings
from .terms import coverage, query_terms

CANDIDATES = 50         # full-text (and vector) candidates ranked per question
RESCORED = 20           # of which the best are scored (reading their words costs more than ranking)


@dataclass(frozen=True)
class Found:
    """One chunk: where it comes from, its text, and how well it fits the question."""

    chunk_id: int
    space: str
    document_id: int
    title: str
    url: str
    heading: str
    text: str
    score: float        # 0..1: the share of the question's terms it holds, or its cosine when higher
    relevant: bool      # score >= its space's min_score

    def as_dict(self) -> dict[str, Any]:
        return {"chunk_id": self.chunk_id, "space": self.space, "document_id": self.document_id,
                "title": self.title, "url": self.url, "heading": self.heading, "text": self.text,
                "score": round(self.score, 4), "relevant": self.relevant}


def retrieve(db: Any, settings: KnowledgeSettings, space_names: list[str], question: str, *, context: str = "",
             limit: int | None = None, embedder: Embedder | None = None) -> list[Found]:
    """The best chunks for `question` in the named spaces, best first (at most `limit`, default
    `[knowledge] top_k`); `context` (the last turn) helps rank but not judge relevance. Spaces that
    do not exist are skipped."""
    limit = limit or settings.top_k
    asked = query_terms(question)
    ranked_terms = list(dict.fromkeys(asked + query_terms(context)))[:64]
    with db.read() as conn:
        spaces = store.space_ids(conn, list(space_names))
        if not spaces:
            return []
        lexical = [cid for cid, _ in fts.search(conn, list(spaces), ranked_terms, CANDIDATES)]
        vectors = embedder.embed([question]) if embedder is not None and embedder.configured else None
        similar: dict[int, float] = {}
        if vectors:
            query = unpack(vectors[0])
            for cid, blob in store.embedded_chunks(conn, list(spaces), settings.vector_scan_limit):
                similar[cid] = cosine(query, unpack(blob))
        by_vector = sorted(similar, key=similar.get, reverse=True)[:CANDIDATES]
        fused = fuse(lexical, by_vector) if by_vector else {cid: -i for i, cid in enumerate(lexical)}
        order = sorted(fused, key=fused.get, reverse=True)[:max(RESCORED, limit)]
        rows = store.chunk_rows(conn, order)
    found = []
    for cid in order:
        row = rows.get(cid)
        if row is None:
            continue        # a chunk of a document still being indexed
        score = max(coverage(asked, f"{row.title}\n{row.text}"), similar.get(cid, 0.0))
        found.append(Found(cid, row.space, row.document_id, row.title, row.url, row.heading, row.text, score,
                           score >= spaces[row.space_id]))
    # The score first (it says how much of the question a chunk answers, alike on both dialects),
    # the fused ranking among equals (sorted() keeps their order).
    found.sort(key=lambda item: item.score, reverse=True)
    return found[:limit]
