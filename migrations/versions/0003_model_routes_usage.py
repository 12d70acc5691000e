"""Model routes and per-user, per-provider, per-day token and cost accounting.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "model_routes",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("match", sa.JSON(), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("fallback", sa.JSON(), nullable=False),
        sa.Column("cache_ttl", sa.Double(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_routes")),
        sa.UniqueConstraint("name", name=op.f("uq_model_routes_name")),
    )
    op.create_table(
        "model_usage",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("day", sa.String(length=10), nullable=False),
        sa.Column("user_key", sa.String(length=200), nullable=False),
        sa.Column("provider", sa.String(length=100), nullable=False),
        sa.Column("calls", sa.Integer(), nullable=False),
        sa.Column("prompt_tokens", sa.Integer(), nullable=False),
        sa.Column("completion_tokens", sa.Integer(), nullable=False),
        sa.Column("cost", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_model_usage")),
        sa.UniqueConstraint("day", "user_key", "provider", name=op.f("uq_model_usage_day_user_key_provider")),
    )
    with op.batch_alter_table("model_usage", schema=None) as batch_op:
        batch_op.create_index("ix_model_usage_user_day", ["user_key", "day"], unique=False)


def downgrade() -> None:
    with op.batch_alter_table("model_usage", schema=None) as batch_op:
        batch_op.drop_index("ix_model_usage_user_day")
    op.drop_table("model_usage")
    op.drop_table("model_routes")
