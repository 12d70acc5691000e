"""Previews of replies the model is still writing, readable by every process (pipeline/previews.py).

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "message_previews",
        sa.Column("chat_key", sa.String(length=300), nullable=False),
        sa.Column("reply_to", sa.String(length=300), nullable=False),
        sa.Column("text", sa.Text(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("chat_key", "reply_to", name=op.f("pk_message_previews")),
    )
    with op.batch_alter_table("message_previews") as batch_op:
        batch_op.create_index("ix_message_previews_updated_at", ["updated_at"], unique=False)


def downgrade() -> None:
    op.drop_table("message_previews")
