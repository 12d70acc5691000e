"""Per-chat profiles, and hand-offs of a conversation to a person; the default rules that answer
/profile, /human, /reply and /release.

Revision ID: 0025
Revises: 0024
Create Date: 2026-12-07
"""
from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None

# Before the rule that ignores unaddressed group chatter (900) and the command rule (950).
DEFAULT_RULES = [
    ("profile", 40, {"command": "profile"}, "builtin", {"name": "profile"}),
    ("human", 41, {"command": "human"}, "builtin", {"name": "human"}),
    ("handoff-agent", 42, {"command": ["reply", "release"]}, "builtin", {"name": "agent"}),
]


def upgrade() -> None:
    op.create_table(
        "profiles",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=100), nullable=False),
        sa.Column("priority", sa.Integer(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("match", sa.JSON(), nullable=False),
        sa.Column("system_prompt", sa.Text(), nullable=False),
        sa.Column("locale", sa.String(length=20), nullable=False),
        sa.Column("model_route", sa.String(length=100), nullable=False),
        sa.Column("knowledge", sa.JSON(), nullable=False),
        sa.Column("tools", sa.Boolean(), nullable=True),
        sa.Column("messages_per_minute", sa.Integer(), nullable=True),
        sa.Column("tokens_per_day", sa.Integer(), nullable=True),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_profiles")),
        sa.UniqueConstraint("name", name=op.f("uq_profiles_name")),
    )
    op.create_table(
        "handoffs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("conversation_key", sa.String(length=300), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("chat_id", sa.String(length=200), nullable=False),
        sa.Column("user_id", sa.String(length=200), nullable=False),
        sa.Column("user_name", sa.String(length=200), nullable=False),
        sa.Column("reply_context", sa.JSON(), nullable=False),
        sa.Column("locale", sa.String(length=20), nullable=False),
        sa.Column("via", sa.String(length=40), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("agent", sa.String(length=200), nullable=False),
        sa.Column("replies", sa.Integer(), nullable=False),
        sa.Column("requested_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.Column("closed_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_handoffs")),
    )
    with op.batch_alter_table("handoffs") as batch:
        batch.create_index("ix_handoffs_conversation_status", ["conversation_key", "status"], unique=False)
        batch.create_index("ix_handoffs_status_updated", ["status", "updated_at"], unique=False)
    now = time.time()
    rules = sa.table("rules", *(sa.column(c) for c in (
        "name", "position", "enabled", "action", "source", "created_at", "updated_at")),
        sa.column("match", sa.JSON), sa.column("params", sa.JSON))
    taken = set(op.get_bind().execute(sa.text("SELECT name FROM rules")).scalars())   # an admin's own rule stays
    op.bulk_insert(rules, [{"name": n, "position": pos, "enabled": True, "match": m, "action": a, "params": p,
                            "source": "default", "created_at": now, "updated_at": now}
                           for n, pos, m, a, p in DEFAULT_RULES if n not in taken])


def downgrade() -> None:
    for name, *_ in DEFAULT_RULES:
        op.execute(sa.text("DELETE FROM rules WHERE name = :n AND source = 'default'").bindparams(n=name))
    op.drop_table("handoffs")
    op.drop_table("profiles")
