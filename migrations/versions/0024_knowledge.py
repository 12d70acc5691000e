"""Knowledge spaces, their documents (each also its indexing job's state) and chunks, and the
full-text index over the chunks: an FTS5 table on SQLite, a tsvector table with a GIN index on
PostgreSQL. Both hold the segmented terms (words, Chinese character bigrams) that
smartbot/knowledge/terms.py makes, so the two dialects match the same words.

Revision ID: 0024
Revises: 0023
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "knowledge_spaces",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("min_score", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_spaces"),
        sa.UniqueConstraint("name", name="uq_knowledge_spaces_name"),
    )
    op.create_table(
        "knowledge_documents",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("title", sa.String(length=300), nullable=False),
        sa.Column("url", sa.String(length=2000), nullable=False),
        sa.Column("kind", sa.String(length=10), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("text", sa.Text(), nullable=True),
        sa.Column("content", sa.LargeBinary(), nullable=True),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("progress", sa.Integer(), nullable=False),
        sa.Column("chunks", sa.Integer(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("lease_until", sa.Double(), nullable=False),
        sa.Column("added_by", sa.String(length=250), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_documents"),
        sa.UniqueConstraint("space_id", "title", name="uq_knowledge_documents_space_id_title"),
    )
    op.create_index("ix_knowledge_documents_status", "knowledge_documents", ["status", "lease_until"])
    op.create_table(
        "knowledge_chunks",
        sa.Column("id", sa.Integer(), primary_key=True),
        sa.Column("space_id", sa.Integer(), nullable=False),
        sa.Column("document_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("heading", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("embedding", sa.LargeBinary(), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_knowledge_chunks"),
    )
    op.create_index("ix_knowledge_chunks_document", "knowledge_chunks", ["document_id", "position"])
    op.create_index("ix_knowledge_chunks_space", "knowledge_chunks", ["space_id", "id"])
    if op.get_bind().dialect.name == "sqlite":
        # rowid = the chunk's id; space_id is stored to filter on, not indexed as text.
        op.execute("CREATE VIRTUAL TABLE knowledge_fts USING fts5(terms, space_id UNINDEXED, "
                   "tokenize = 'unicode61 remove_diacritics 2')")
    else:
        op.execute("CREATE TABLE knowledge_fts (chunk_id integer PRIMARY KEY, space_id integer NOT NULL, "
                   "tsv tsvector NOT NULL)")
        op.execute("CREATE INDEX ix_knowledge_fts_tsv ON knowledge_fts USING gin (tsv)")


def downgrade() -> None:
    op.execute("DROP TABLE knowledge_fts")
    op.drop_table("knowledge_chunks")
    op.drop_table("knowledge_documents")
    op.drop_table("knowledge_spaces")
