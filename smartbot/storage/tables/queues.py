"""The durable inbox and outbox.

Both are ordered queues: rows with the same order key (conversation for the inbox, chat for the
outbox) are worked one at a time, oldest first, each by the one owner holding its lease. The unique
(channel, key) constraints are what make a retried webhook a no-op and a second reply impossible.
"""
from __future__ import annotations

from sqlalchemy import Double, Index, Integer, String, Text, UniqueConstraint

from .base import Base, Mapped, mapped_column, now

QUEUED, LEASED, DONE, FAILED = "queued", "leased", "done", "failed"


class _QueueColumns:
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    channel: Mapped[str] = mapped_column(String(40))
    order_key: Mapped[str] = mapped_column(String(300))
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(10), default=QUEUED)
    owner: Mapped[str | None] = mapped_column(String(120), nullable=True)
    lease_until: Mapped[float] = mapped_column(Double, default=0.0)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[float] = mapped_column(Double, default=0.0)
    created_at: Mapped[float] = mapped_column(Double, default=now)
    finished_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    last_error: Mapped[str] = mapped_column(String(500), default="")


class Inbox(_QueueColumns, Base):
    __tablename__ = "inbox"
    event_id: Mapped[str] = mapped_column(String(300))
    __table_args__ = (
        UniqueConstraint("channel", "event_id"),
        Index("ix_inbox_order", "order_key", "status", "id"),
        Index("ix_inbox_due", "status", "lease_until"),
        Index("ix_inbox_channel_created", "channel", "created_at"),
    )


class Outbox(_QueueColumns, Base):
    __tablename__ = "outbox"
    dedup_key: Mapped[str] = mapped_column(String(300))
    inbox_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    __table_args__ = (
        UniqueConstraint("channel", "dedup_key"),
        Index("ix_outbox_order", "order_key", "status", "id"),
        Index("ix_outbox_due", "status", "lease_until"),
    )
