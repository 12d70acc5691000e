"""Operations state shared by every process of a cluster: one row per alert key, one per counter.

An alert's state change is a conditional UPDATE (`... WHERE firing = <old>`), so of many processes
that see the same outage only one wins the change and sends the alert; `seq` numbers the changes.
A counter (rate limits, login failures, without Redis) is one UPSERT per count (shared_state.py).
"""
from __future__ import annotations

from sqlalchemy import Boolean, Double, Index, Integer, String, Text

from .base import Base, Mapped, mapped_column, now


class AlertState(Base):
    __tablename__ = "alert_state"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    firing: Mapped[bool] = mapped_column(Boolean, default=False)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    text: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[float] = mapped_column(Double, default=now)


class SharedCounter(Base):
    __tablename__ = "shared_counters"
    key: Mapped[str] = mapped_column(String(200), primary_key=True)
    hits: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Double, default=0.0)
    __table_args__ = (Index("ix_shared_counters_expires_at", "expires_at"),)
