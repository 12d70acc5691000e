"""providers.key_origin: the scheme://host:port a provider's key was confirmed for; the key is sent
nowhere else. Existing providers keep working: their key counts as confirmed for the origin of
the base_url they have now.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-07
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op
from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_PORTS = {"http": 80, "https": 443}


def _origin(url: str) -> str:
    """smartbot.llm.keys.origin as of this revision (a migration must not change with the code)."""
    try:
        parsed = parse_url(url)
    except LocationParseError:
        return ""
    if parsed.scheme not in _PORTS or not parsed.host:
        return ""
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or _PORTS[parsed.scheme]}"


def upgrade() -> None:
    with op.batch_alter_table("providers") as batch_op:
        batch_op.add_column(sa.Column("key_origin", sa.String(length=300), nullable=False, server_default=""))
    providers = sa.table("providers", sa.column("id", sa.Integer()), sa.column("base_url", sa.String()),
                         sa.column("key_origin", sa.String()))
    conn = op.get_bind()
    for row in conn.execute(sa.select(providers.c.id, providers.c.base_url)).all():
        conn.execute(sa.update(providers).where(providers.c.id == row.id).values(key_origin=_origin(row.base_url)))


def downgrade() -> None:
    with op.batch_alter_table("providers") as batch_op:
        batch_op.drop_column("key_origin")
