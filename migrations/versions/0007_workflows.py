"""Workflows, workflow runs and their step states, cron schedules, and the /workflow chat rule.

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30
"""
from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None

# /workflow <name> [key=value ...], after the rule that ignores unaddressed group chatter (like /run).
WORKFLOW_RULE = ("workflow", 940, {"command": "workflow"}, "workflow", {})


def upgrade() -> None:
    op.create_table(
        "workflows",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflows")),
        sa.UniqueConstraint("name", name=op.f("uq_workflows_name")),
    )
    op.create_table(
        "workflow_runs",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("request_key", sa.String(length=300), nullable=False),
        sa.Column("trigger", sa.String(length=20), nullable=False),
        sa.Column("triggered_by", sa.String(length=250), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=True),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("chat_id", sa.String(length=200), nullable=False),
        sa.Column("reply_context", sa.JSON(), nullable=False),
        sa.Column("reply_to", sa.String(length=300), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("owner", sa.String(length=120), nullable=True),
        sa.Column("lease_until", sa.Double(), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_runs")),
        sa.UniqueConstraint("request_key", name=op.f("uq_workflow_runs_request_key")),
    )
    with op.batch_alter_table("workflow_runs") as batch_op:
        batch_op.create_index("ix_workflow_runs_status", ["status", "lease_until"], unique=False)
        batch_op.create_index("ix_workflow_runs_workflow", ["workflow", "id"], unique=False)
    op.create_table(
        "workflow_steps",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("run_id", sa.Integer(), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("attempts", sa.Integer(), nullable=False),
        sa.Column("output", sa.Text(), nullable=False),
        sa.Column("error", sa.String(length=500), nullable=False),
        sa.Column("started_at", sa.Double(), nullable=True),
        sa.Column("finished_at", sa.Double(), nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_workflow_steps")),
        sa.UniqueConstraint("run_id", "position", name=op.f("uq_workflow_steps_run_id_position")),
    )
    op.create_table(
        "schedules",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workflow", sa.String(length=64), nullable=False),
        sa.Column("cron", sa.String(length=120), nullable=False),
        sa.Column("owner_user_id", sa.Integer(), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("chat_id", sa.String(length=200), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("next_run_at", sa.Double(), nullable=False),
        sa.Column("last_run_at", sa.Double(), nullable=True),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_schedules")),
    )
    with op.batch_alter_table("schedules") as batch_op:
        batch_op.create_index("ix_schedules_due", ["enabled", "next_run_at"], unique=False)
    _seed_rule()


def _seed_rule() -> None:
    now = time.time()
    rules = sa.table("rules", *(sa.column(c) for c in (
        "name", "position", "enabled", "action", "source", "created_at", "updated_at")),
        sa.column("match", sa.JSON), sa.column("params", sa.JSON))
    name, position, match, action, params = WORKFLOW_RULE
    op.bulk_insert(rules, [{"name": name, "position": position, "enabled": True, "match": match, "action": action,
                            "params": params, "source": "default", "created_at": now, "updated_at": now}])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM rules WHERE name = 'workflow' AND source = 'default'"))
    with op.batch_alter_table("schedules") as batch_op:
        batch_op.drop_index("ix_schedules_due")
    op.drop_table("schedules")
    op.drop_table("workflow_steps")
    with op.batch_alter_table("workflow_runs") as batch_op:
        batch_op.drop_index("ix_workflow_runs_workflow")
        batch_op.drop_index("ix_workflow_runs_status")
    op.drop_table("workflow_runs")
    op.drop_table("workflows")
