"""Webhook signatures seen: DingTalk's (timestamp, sign) pairs, each accepted with one body only.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-08
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seen_signatures",
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("signature", sa.String(length=64), nullable=False),
        sa.Column("body_digest", sa.String(length=64), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("channel", "signature", name=op.f("pk_seen_signatures")),
    )
    with op.batch_alter_table("seen_signatures") as batch_op:
        batch_op.create_index("ix_seen_signatures_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("seen_signatures")
