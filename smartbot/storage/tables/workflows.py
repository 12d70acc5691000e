"""Workflows, their runs and step states, and the cron schedules that start them.

A run keeps a copy of the definition it started with, so editing a workflow never changes a run
already under way. `request_key` makes starting idempotent: a chat message handled twice (after a
crash) finds the run it already started. A run is worked by one owner at a time under a lease,
like the inbox and outbox rows.
"""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Double, Index, Integer, String, Text, UniqueConstraint

from .base import Base, Mapped, mapped_column, now


class Workflow(Base):
    __tablename__ = "workflows"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    source: Mapped[str] = mapped_column(Text)                      # the YAML as written
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class WorkflowRun(Base):
    __tablename__ = "workflow_runs"
    __table_args__ = (Index("ix_workflow_runs_status", "status", "lease_until"),
                      Index("ix_workflow_runs_workflow", "workflow", "id"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(Text)                      # the definition this run follows
    request_key: Mapped[str] = mapped_column(String(300), unique=True)
    trigger: Mapped[str] = mapped_column(String(20))               # chat | api | schedule
    triggered_by: Mapped[str] = mapped_column(String(250))         # channel:user, admin:name, schedule:id
    user_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    channel: Mapped[str] = mapped_column(String(40), default="")
    chat_id: Mapped[str] = mapped_column(String(200), default="")
    reply_context: Mapped[dict] = mapped_column(JSON, default=dict)
    reply_to: Mapped[str] = mapped_column(String(300), default="")
    locale: Mapped[str | None] = mapped_column(String(20), nullable=True)   # the starter's language
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    status: Mapped[str] = mapped_column(String(20), default="queued")
    error: Mapped[str] = mapped_column(String(500), default="")
    owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[float] = mapped_column(Double, default=0.0)
    created_at: Mapped[float] = mapped_column(Double, default=now)
    started_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Double, nullable=True)


class WorkflowStep(Base):
    __tablename__ = "workflow_steps"
    __table_args__ = (UniqueConstraint("run_id", "position"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    run_id: Mapped[int] = mapped_column(Integer)
    position: Mapped[int] = mapped_column(Integer)
    name: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(20))
    status: Mapped[str] = mapped_column(String(20), default="pending")
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    output: Mapped[str] = mapped_column(Text, default="")
    error: Mapped[str] = mapped_column(String(500), default="")
    started_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    finished_at: Mapped[float | None] = mapped_column(Double, nullable=True)


class Schedule(Base):
    __tablename__ = "schedules"
    __table_args__ = (Index("ix_schedules_due", "enabled", "next_run_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workflow: Mapped[str] = mapped_column(String(64))
    cron: Mapped[str] = mapped_column(String(120))
    owner_user_id: Mapped[int] = mapped_column(Integer)
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    channel: Mapped[str] = mapped_column(String(40), default="")   # where results go ('' = nowhere)
    chat_id: Mapped[str] = mapped_column(String(200), default="")
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    next_run_at: Mapped[float] = mapped_column(Double)
    last_run_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)
