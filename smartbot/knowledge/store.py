"""Rows of knowledge spaces, documents and chunks (SQLAlchemy Core, on a connection the caller
holds): plain data in, plain data out; the checks and the audit are manage/knowledge.py's, the
indexing is indexer.py's."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa

from ..storage.tables import KnowledgeChunk, KnowledgeDocument, KnowledgeSpace
from . import fts

spaces_t, documents_t, chunks_t = KnowledgeSpace.__table__, KnowledgeDocument.__table__, KnowledgeChunk.__table__
STATUSES = ("pending", "indexing", "ready", "failed")
_DOCUMENT_COLUMNS = [c for c in documents_t.c if c.name not in ("text", "content")]   # never the bodies


def space_dict(row: Any, counts: dict[str, int] | None = None) -> dict[str, Any]:
    out = {"name": row.name, "description": row.description, "min_score": row.min_score,
           "created_at": row.created_at, "updated_at": row.updated_at}
    if counts is not None:
        out["documents"] = counts
    return out


def document_dict(row: Any) -> dict[str, Any]:
    return {"id": row.id, "title": row.title, "url": row.url, "kind": row.kind, "size": row.size,
            "status": row.status, "progress": row.progress, "chunks": row.chunks, "error": row.error,
            "added_by": row.added_by, "created_at": row.created_at, "updated_at": row.updated_at}


def all_spaces(conn: Any) -> list[Any]:
    return list(conn.execute(sa.select(spaces_t).order_by(spaces_t.c.name)))


def get_space(conn: Any, name: str) -> Any:
    return conn.execute(sa.select(spaces_t).where(spaces_t.c.name == name)).first()


def space_ids(conn: Any, names: list[str]) -> dict[int, float]:
    """{space id: min_score} of the spaces that exist among `names`."""
    rows = conn.execute(sa.select(spaces_t.c.id, spaces_t.c.min_score).where(spaces_t.c.name.in_(names)))
    return {int(r.id): float(r.min_score) for r in rows}


def status_counts(conn: Any, space_id: int) -> dict[str, int]:
    rows = conn.execute(sa.select(documents_t.c.status, sa.func.count()).where(documents_t.c.space_id == space_id)
                        .group_by(documents_t.c.status))
    counts = {status: 0 for status in STATUSES}
    counts.update({status: int(n) for status, n in rows})
    return counts


def add_space(conn: Any, name: str, description: str, min_score: float) -> None:
    conn.execute(sa.insert(spaces_t).values(name=name, description=description, min_score=min_score))


def update_space(conn: Any, space_id: int, values: dict[str, Any]) -> None:
    conn.execute(sa.update(spaces_t).where(spaces_t.c.id == space_id).values(**values, updated_at=time.time()))


def delete_space(conn: Any, space_id: int) -> None:
    fts.remove_space(conn, space_id)
    conn.execute(sa.delete(chunks_t).where(chunks_t.c.space_id == space_id))
    conn.execute(sa.delete(documents_t).where(documents_t.c.space_id == space_id))
    conn.execute(sa.delete(spaces_t).where(spaces_t.c.id == space_id))


def documents(conn: Any, space_id: int) -> list[Any]:
    return list(conn.execute(sa.select(*_DOCUMENT_COLUMNS).where(documents_t.c.space_id == space_id)
                             .order_by(documents_t.c.title)))


def get_document(conn: Any, document_id: int, with_body: bool = False) -> Any:
    columns = [documents_t] if with_body else _DOCUMENT_COLUMNS
    return conn.execute(sa.select(*columns).where(documents_t.c.id == document_id)).first()


def document_by_title(conn: Any, space_id: int, title: str) -> Any:
    return conn.execute(sa.select(*_DOCUMENT_COLUMNS).where(documents_t.c.space_id == space_id,
                                                            documents_t.c.title == title)).first()


def put_document(conn: Any, space_id: int, values: dict[str, Any]) -> int:
    """Store a document to be indexed, replacing (and unindexing) one of the same title."""
    old = document_by_title(conn, space_id, values["title"])
    if old is not None:
        remove_document(conn, old.id)
    result = conn.execute(sa.insert(documents_t).values(space_id=space_id, status="pending", progress=0,
                                                        chunks=0, error="", lease_until=0.0, **values))
    return int(result.inserted_primary_key[0])


def remove_chunks(conn: Any, document_id: int) -> None:
    ids = [int(r[0]) for r in conn.execute(sa.select(chunks_t.c.id).where(chunks_t.c.document_id == document_id))]
    fts.remove(conn, ids)
    conn.execute(sa.delete(chunks_t).where(chunks_t.c.document_id == document_id))


def remove_document(conn: Any, document_id: int) -> None:
    remove_chunks(conn, document_id)
    conn.execute(sa.delete(documents_t).where(documents_t.c.id == document_id))


# -- indexing state (the document row is its job's row) ---------------------------------------
def claim(conn: Any, document_id: int, owner: str, lease_until: float, now: float) -> bool:
    """Take a pending document (or one whose indexer's lease ran out) for indexing."""
    result = conn.execute(sa.update(documents_t).where(
        documents_t.c.id == document_id,
        sa.or_(documents_t.c.status == "pending",
               sa.and_(documents_t.c.status == "indexing", documents_t.c.lease_until < now)))
        .values(status="indexing", owner=owner, lease_until=lease_until, progress=0, error=""))
    return result.rowcount == 1


def held(conn: Any, document_id: int, owner: str) -> bool:
    row = conn.execute(sa.select(documents_t.c.status, documents_t.c.owner)
                       .where(documents_t.c.id == document_id)).first()
    return row is not None and row.status == "indexing" and row.owner == owner


def set_progress(conn: Any, document_id: int, owner: str, progress: int, lease_until: float) -> bool:
    result = conn.execute(sa.update(documents_t).where(documents_t.c.id == document_id,
                                                       documents_t.c.owner == owner,
                                                       documents_t.c.status == "indexing")
                          .values(progress=progress, lease_until=lease_until))
    return result.rowcount == 1


def finish(conn: Any, document_id: int, owner: str, values: dict[str, Any]) -> bool:
    result = conn.execute(sa.update(documents_t).where(documents_t.c.id == document_id,
                                                       documents_t.c.owner == owner,
                                                       documents_t.c.status == "indexing")
                          .values(owner=None, lease_until=0.0, updated_at=time.time(), **values))
    return result.rowcount == 1


def renew(conn: Any, owner: str, lease_until: float, ids: list[int]) -> None:
    conn.execute(sa.update(documents_t).where(documents_t.c.id.in_(ids), documents_t.c.owner == owner,
                                              documents_t.c.status == "indexing").values(lease_until=lease_until))


def requeue_ready(conn: Any) -> int:
    """Every ready document back to pending, to be indexed again (their text is kept); how many."""
    return conn.execute(sa.update(documents_t).where(documents_t.c.status == "ready")
                        .values(status="pending", progress=0, updated_at=time.time())).rowcount


def waiting(conn: Any, now: float) -> list[int]:
    """Documents to index: pending ones, and those whose indexer's lease ran out."""
    rows = conn.execute(sa.select(documents_t.c.id).where(sa.or_(
        documents_t.c.status == "pending",
        sa.and_(documents_t.c.status == "indexing", documents_t.c.lease_until < now))).order_by(documents_t.c.id))
    return [int(r[0]) for r in rows]


def add_chunks(conn: Any, document_id: int, rows: list[dict[str, Any]]) -> list[int]:
    """Insert one document's chunks in one statement and return their ids, in the rows' order."""
    if not rows:
        return []
    conn.execute(sa.insert(chunks_t), rows)
    positions = [row["position"] for row in rows]
    found = dict(conn.execute(sa.select(chunks_t.c.position, chunks_t.c.id).where(
        chunks_t.c.document_id == document_id, chunks_t.c.position.between(min(positions), max(positions)))).all())
    return [int(found[p]) for p in positions]


def chunk_rows(conn: Any, chunk_ids: list[int]) -> dict[int, Any]:
    """Chunks of ready documents with their document's title and url and their space's name, by id."""
    if not chunk_ids:
        return {}
    query = (sa.select(chunks_t.c.id, chunks_t.c.text, chunks_t.c.heading, chunks_t.c.embedding,
                       chunks_t.c.space_id, chunks_t.c.document_id, documents_t.c.title, documents_t.c.url,
                       spaces_t.c.name.label("space"))
             .join(documents_t, documents_t.c.id == chunks_t.c.document_id)
             .join(spaces_t, spaces_t.c.id == chunks_t.c.space_id)
             .where(chunks_t.c.id.in_(chunk_ids), documents_t.c.status == "ready"))
    return {int(r.id): r for r in conn.execute(query)}


def embedded_chunks(conn: Any, space_ids: list[int], limit: int) -> list[tuple[int, bytes]]:
    """(id, vector) of the newest `limit` embedded chunks of the spaces."""
    query = (sa.select(chunks_t.c.id, chunks_t.c.embedding)
             .where(chunks_t.c.space_id.in_(space_ids), chunks_t.c.embedding.is_not(None))
             .order_by(chunks_t.c.id.desc()).limit(limit))
    return [(int(r.id), bytes(r.embedding)) for r in conn.execute(query)]
