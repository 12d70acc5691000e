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


class ChannelLease(Base):
    """Who holds a channel's connection (gateway/connections.py): `token` grows by one at every change
    of holder, and every write of the holder is conditional on it (a fencing token), so a holder
    that lost the lease while paused cannot write over its successor. The row also keeps the
    connector's resume point (`cursor`, JSON) and what /readyz, the dashboard and /metrics show."""

    __tablename__ = "channel_leases"
    channel: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200), default="")
    token: Mapped[int] = mapped_column(Integer, default=0)
    expires_at: Mapped[float] = mapped_column(Double, default=0.0)
    cursor: Mapped[str] = mapped_column(Text, default="{}")
    connected: Mapped[bool] = mapped_column(Boolean, default=False)
    state: Mapped[str] = mapped_column(Text, default="")
    changed_at: Mapped[float] = mapped_column(Double, default=0.0)
    last_event_at: Mapped[float] = mapped_column(Double, default=0.0)
    reconnects: Mapped[int] = mapped_column(Integer, default=0)
