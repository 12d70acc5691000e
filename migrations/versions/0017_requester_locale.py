"""The language of whoever asked: an approval request and a workflow run remember it, so a message
sent to them later (an approval's outcome, "workflow finished") is in their language rather than
the server's default_locale. Null for rows from before: those fall back to default_locale.

Revision ID: 0017
Revises: 0016
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("approvals") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=20), nullable=True))
    with op.batch_alter_table("workflow_runs") as batch:
        batch.add_column(sa.Column("locale", sa.String(length=20), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("workflow_runs") as batch:
        batch.drop_column("locale")
    with op.batch_alter_table("approvals") as batch:
        batch.drop_column("locale")
