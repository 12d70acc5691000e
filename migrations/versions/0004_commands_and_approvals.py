"""Command catalogue and approvals, with the ChatOps starter set and the command chat rule.

The starter commands reach only what the [executor] allow lists name, and those are empty by
default: ping, http_check, tail, service_status and service_restart refuse every value until the
operator lists hosts, log files and services. service_restart needs an approval.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30
"""
from __future__ import annotations

import time

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None

_SERVICE = {"name": "service", "type": "enum", "choices_from": "services",
            "description": "a supervisor program listed in [executor] services"}
_HOST = {"name": "host", "type": "enum", "choices_from": "allowed_hosts",
         "description": "a host listed in [executor] allowed_hosts"}

STARTER = [
    ("disk", "Disk usage of the mounted file systems", ["df", "-hP", "-x", "tmpfs", "-x", "devtmpfs"], [], {}),
    ("memory", "Memory and swap use in MiB", ["free", "-m"], [], {}),
    ("load", "Load averages (1, 5, 15 minutes) and running/total tasks", ["cat", "/proc/loadavg"], [], {}),
    ("uptime", "How long the server has been up, and its load", ["uptime"], [], {}),
    ("top", "Processes using the most CPU",
     ["ps", "-eo", "pid,user,pcpu,pmem,etime,comm", "--sort=-pcpu"], [], {"output_cap": 4000}),
    ("service_status", "State of a supervisor program", ["supervisorctl", "status", "{service}"], [_SERVICE], {}),
    ("service_restart", "Restart a supervisor program",
     ["supervisorctl", "restart", "{service}"], [_SERVICE], {"needs_approval": True, "timeout": 60.0}),
    ("tail", "The last lines of an allowed log file", ["tail", "-n", "{lines}", "--", "{file}"],
     [{"name": "lines", "type": "int", "min": 1, "max": 500, "default": "50", "description": "how many lines"},
      {"name": "file", "type": "path", "roots_from": "log_files",
       "description": "a log file listed in [executor] log_files"}], {}),
    ("ping", "Ping an allowed host three times", ["ping", "-c", "3", "-W", "2", "--", "{host}"], [_HOST],
     {"timeout": 15.0}),
    ("http_check", "HTTP status and response time of an allowed host",
     ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code} %{time_total}s\n", "--max-time", "10", "--", "{host}"],
     [_HOST], {"timeout": 15.0}),
]

# /run, /approve, /deny, /commands and /<name>, after the rule that ignores unaddressed group chatter.
COMMAND_RULE = ("commands", 950, {"regex": r"^/[a-z0-9_\-]+(@\S+)?(\s|$)"}, "command", {"shortcuts": True})


def upgrade() -> None:
    op.create_table(
        "commands",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=48), nullable=False),
        sa.Column("description", sa.String(length=500), nullable=False),
        sa.Column("argv", sa.JSON(), nullable=False),
        sa.Column("params", sa.JSON(), nullable=False),
        sa.Column("permission", sa.String(length=100), nullable=False),
        sa.Column("timeout", sa.Double(), nullable=False),
        sa.Column("output_cap", sa.Integer(), nullable=False),
        sa.Column("workdir", sa.String(length=500), nullable=False),
        sa.Column("env", sa.JSON(), nullable=False),
        sa.Column("needs_approval", sa.Boolean(), nullable=False),
        sa.Column("enabled", sa.Boolean(), nullable=False),
        sa.Column("source", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("updated_at", sa.Double(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_commands")),
        sa.UniqueConstraint("name", name=op.f("uq_commands_name")),
    )
    op.create_table(
        "approvals",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("request_key", sa.String(length=400), nullable=False),
        sa.Column("command", sa.String(length=48), nullable=False),
        sa.Column("args", sa.JSON(), nullable=False),
        sa.Column("requester", sa.String(length=250), nullable=False),
        sa.Column("requester_name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=40), nullable=False),
        sa.Column("chat_id", sa.String(length=200), nullable=False),
        sa.Column("reply_context", sa.JSON(), nullable=False),
        sa.Column("via", sa.String(length=20), nullable=False),
        sa.Column("status", sa.String(length=20), nullable=False),
        sa.Column("created_at", sa.Double(), nullable=False),
        sa.Column("expires_at", sa.Double(), nullable=False),
        sa.Column("decided_by", sa.String(length=250), nullable=False),
        sa.Column("decided_at", sa.Double(), nullable=True),
        sa.Column("result", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_approvals")),
        sa.UniqueConstraint("request_key", name=op.f("uq_approvals_request_key")),
    )
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.create_index("ix_approvals_status", ["status", "expires_at"], unique=False)
    _seed()


def _seed() -> None:
    now = time.time()
    commands = sa.table("commands", *(sa.column(c) for c in (
        "name", "description", "permission", "timeout", "output_cap", "workdir", "needs_approval", "enabled",
        "source", "created_at", "updated_at")), sa.column("argv", sa.JSON), sa.column("params", sa.JSON),
        sa.column("env", sa.JSON))
    rows = []
    for name, description, argv, params, extra in STARTER:
        rows.append({"name": name, "description": description, "argv": argv, "params": params, "permission": "",
                     "timeout": extra.get("timeout", 30.0), "output_cap": extra.get("output_cap", 8000),
                     "workdir": "/", "env": [], "needs_approval": extra.get("needs_approval", False),
                     "enabled": True, "source": "default", "created_at": now, "updated_at": now})
    op.bulk_insert(commands, rows)
    rules = sa.table("rules", *(sa.column(c) for c in (
        "name", "position", "enabled", "action", "source", "created_at", "updated_at")),
        sa.column("match", sa.JSON), sa.column("params", sa.JSON))
    name, position, match, action, params = COMMAND_RULE
    op.bulk_insert(rules, [{"name": name, "position": position, "enabled": True, "match": match, "action": action,
                            "params": params, "source": "default", "created_at": now, "updated_at": now}])


def downgrade() -> None:
    op.execute(sa.text("DELETE FROM rules WHERE name = 'commands' AND source = 'default'"))
    with op.batch_alter_table("approvals", schema=None) as batch_op:
        batch_op.drop_index("ix_approvals_status")
    op.drop_table("approvals")
    op.drop_table("commands")

