"""Webhook signatures seen, for platforms whose signature does not cover the body (DingTalk).

One row per (channel, signature digest), with a digest of the body it came with, kept until the
signature has left the platform's freshness window. The unique key is what lets every worker and
node agree, with one INSERT, on whether a signature is new.
"""
from __future__ import annotations

from sqlalchemy import Double, Index, String

from .base import Base, Mapped, mapped_column


class SeenSignature(Base):
    __tablename__ = "seen_signatures"
    channel: Mapped[str] = mapped_column(String(40), primary_key=True)
    signature: Mapped[str] = mapped_column(String(64), primary_key=True)
    body_digest: Mapped[str] = mapped_column(String(64))
    expires_at: Mapped[float] = mapped_column(Double)
    __table_args__ = (Index("ix_seen_signatures_expires_at", "expires_at"),)
