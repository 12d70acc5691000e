"""The platform's handle of a preview shown while a reply is written (pipeline/live.py), so the
final reply can edit it from any process.

Revision ID: 0019
Revises: 0017
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("message_previews") as batch_op:
        batch_op.add_column(sa.Column("platform_ref", sa.String(length=500), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("message_previews") as batch_op:
        batch_op.drop_column("platform_ref")
