"""Starter commands become read-only: a starter someone changed becomes an ordinary command.

From this release the commands that come with SmartBot (source "default") cannot be changed or
deleted through the API or the admin page. A starter whose stored definition no longer matches
the one 0004 shipped was changed by an admin (or by an attacker holding admin:commands): it keeps
every value it has and becomes an ordinary command (source "db"), which its admins can fix or
delete; if today's checks refuse it, it is refused when asked to run and check-config says why.
Nothing is deleted. Downgrading leaves the rows as they are (an ordinary command stays one).

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-01
"""
from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def _shipped() -> dict[str, dict[str, Any]]:
    """The starter definitions as 0004 seeded them (read from that migration, not copied)."""
    path = Path(__file__).with_name("0004_commands_and_approvals.py")
    spec = importlib.util.spec_from_file_location("smartbot_migration_0004", path)
    module = importlib.util.module_from_spec(spec)  # type: ignore[arg-type]
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return {name: {"description": description, "argv": argv, "params": params, "permission": "",
                   "timeout": extra.get("timeout", 30.0), "output_cap": extra.get("output_cap", 8000),
                   "workdir": "/", "env": [], "needs_approval": extra.get("needs_approval", False), "enabled": True}
            for name, description, argv, params, extra in module.STARTER}


def upgrade() -> None:
    commands = sa.table("commands", *(sa.column(c) for c in (
        "name", "description", "permission", "timeout", "output_cap", "workdir", "needs_approval", "enabled",
        "source")), sa.column("argv", sa.JSON), sa.column("params", sa.JSON), sa.column("env", sa.JSON))
    conn = op.get_bind()
    shipped = _shipped()
    for row in conn.execute(sa.select(commands).where(commands.c.source == "default")).mappings().all():
        wanted = shipped.get(row["name"])
        if wanted is None or any(row[key] != value for key, value in wanted.items()):
            conn.execute(sa.update(commands).where(commands.c.name == row["name"]).values(source="db"))


def downgrade() -> None:
    """Nothing to undo: which rows were starters is not recorded, and an ordinary command may stay one."""
