"""The command catalogue and approval requests."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Double, Index, Integer, String

from .base import Base, Mapped, mapped_column, now


class Command(Base):
    """One allowed command: an argv template (a list, never a shell string) and typed parameters."""
    __tablename__ = "commands"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(48), unique=True)
    description: Mapped[str] = mapped_column(String(500), default="")
    argv: Mapped[list] = mapped_column(JSON)
    params: Mapped[list] = mapped_column(JSON, default=list)
    permission: Mapped[str] = mapped_column(String(100), default="")
    timeout: Mapped[float] = mapped_column(Double, default=30.0)
    output_cap: Mapped[int] = mapped_column(Integer, default=8000)
    workdir: Mapped[str] = mapped_column(String(500), default="/")
    env: Mapped[list] = mapped_column(JSON, default=list)
    needs_approval: Mapped[bool] = mapped_column(Boolean, default=False)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(20), default="db")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class Approval(Base):
    """A request to run a command that needs approval: pending until decided or expired.

    `request_key` makes asking idempotent: a message handled twice (after a crash) finds the
    request it already made instead of making a second one.
    """
    __tablename__ = "approvals"
    __table_args__ = (Index("ix_approvals_status", "status", "expires_at"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    request_key: Mapped[str] = mapped_column(String(400), unique=True)
    command: Mapped[str] = mapped_column(String(48))
    args: Mapped[dict] = mapped_column(JSON, default=dict)
    requester: Mapped[str] = mapped_column(String(250))          # channel:platform_user_id
    requester_name: Mapped[str] = mapped_column(String(200), default="")
    channel: Mapped[str] = mapped_column(String(40))
    chat_id: Mapped[str] = mapped_column(String(200))
    reply_context: Mapped[dict] = mapped_column(JSON, default=dict)
    via: Mapped[str] = mapped_column(String(20), default="chat")
    locale: Mapped[str | None] = mapped_column(String(20), nullable=True)   # the requester's language
    status: Mapped[str] = mapped_column(String(20), default="pending")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    expires_at: Mapped[float] = mapped_column(Double)
    decided_by: Mapped[str] = mapped_column(String(250), default="")
    decided_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    result: Mapped[dict] = mapped_column(JSON, default=dict)
