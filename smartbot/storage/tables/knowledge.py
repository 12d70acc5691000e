"""Knowledge spaces, their documents and the documents' chunks.

A document row is also its indexing job's state (pending | indexing | ready | failed, progress,
owner and lease like the inbox rows), so indexing survives a restart: a row left `indexing` by a
dead process goes back to `pending`. The raw bytes of a PDF are kept until its text is extracted
on the worker pool (never in a request).

The full-text index itself is per dialect and not modelled here (FTS_TABLE): an FTS5 virtual table
on SQLite, a tsvector table with a GIN index on PostgreSQL; migration 0024 makes it.
"""
from __future__ import annotations

from sqlalchemy import Double, Index, Integer, LargeBinary, String, Text, UniqueConstraint

from .base import Base, Mapped, mapped_column, now

FTS_TABLE = "knowledge_fts"
# Tables the migrations make that no model describes (the SQLite FTS5 table and its shadow tables).
UNMODELLED_TABLES = frozenset({FTS_TABLE, *(f"{FTS_TABLE}_{part}" for part in ("data", "idx", "docsize",
                                                                                 "config", "content"))})


class KnowledgeSpace(Base):
    __tablename__ = "knowledge_spaces"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    min_score: Mapped[float] = mapped_column(Double, default=0.25)     # below it a chunk is not relevant
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class KnowledgeDocument(Base):
    __tablename__ = "knowledge_documents"
    __table_args__ = (UniqueConstraint("space_id", "title"),
                      Index("ix_knowledge_documents_status", "status", "lease_until"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[int] = mapped_column(Integer)
    title: Mapped[str] = mapped_column(String(300))
    url: Mapped[str] = mapped_column(String(2000), default="")     # shown as the source's link
    kind: Mapped[str] = mapped_column(String(10))                   # txt | md | html | pdf | docx | csv
    size: Mapped[int] = mapped_column(Integer, default=0)           # bytes as uploaded
    text: Mapped[str | None] = mapped_column(Text, nullable=True)   # null until extracted (PDFs)
    content: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)   # raw bytes awaiting extraction
    status: Mapped[str] = mapped_column(String(20), default="pending")
    progress: Mapped[int] = mapped_column(Integer, default=0)       # percent
    chunks: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str] = mapped_column(String(500), default="")
    owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[float] = mapped_column(Double, default=0.0)
    added_by: Mapped[str] = mapped_column(String(250), default="")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class KnowledgeChunk(Base):
    __tablename__ = "knowledge_chunks"
    __table_args__ = (Index("ix_knowledge_chunks_document", "document_id", "position"),
                      Index("ix_knowledge_chunks_space", "space_id", "id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    space_id: Mapped[int] = mapped_column(Integer)
    document_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    heading: Mapped[str] = mapped_column(String(300), default="")
    text: Mapped[str] = mapped_column(Text)
    embedding: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)   # float32 array
