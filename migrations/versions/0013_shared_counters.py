"""Counters every process shares when there is no Redis: rate limits, the web chat's guest budget,
login failures (smartbot/shared_state.py, one UPSERT per count; expired rows are purged).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-02
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "shared_counters",
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("hits", sa.Integer(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_shared_counters")),
    )
    with op.batch_alter_table("shared_counters") as batch_op:
        batch_op.create_index("ix_shared_counters_expires_at", ["expires_at"], unique=False)


def downgrade() -> None:
    op.drop_table("shared_counters")
