"""Files web chat visitors upload for their next message, held until the worker has read them.

Revision ID: 0021
Revises: 0019
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "chat_uploads",
        sa.Column("key", sa.String(length=64), primary_key=True),
        sa.Column("chat_id", sa.String(length=100), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("mime", sa.String(length=100), nullable=False),
        sa.Column("size", sa.Integer(), nullable=False),
        sa.Column("data", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
    )
    op.create_index("ix_chat_uploads_created_at", "chat_uploads", ["created_at"])


def downgrade() -> None:
    op.drop_index("ix_chat_uploads_created_at", table_name="chat_uploads")
    op.drop_table("chat_uploads")
