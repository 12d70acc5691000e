"""The keyed audit chain: the head row names the key the chain is under and carries an HMAC.

Existing rows keep their plain SHA-256 hashes ("legacy"); `key_id` starts empty, and the first
start of the new code writes the marker row after which every row is keyed (audit/chain.py).

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-01
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("audit_head") as batch_op:
        batch_op.add_column(sa.Column("key_id", sa.String(length=40), nullable=False, server_default=""))
        batch_op.add_column(sa.Column("mac", sa.String(length=64), nullable=False, server_default=""))


def downgrade() -> None:
    with op.batch_alter_table("audit_head") as batch_op:
        batch_op.drop_column("mac")
        batch_op.drop_column("key_id")
