"""The append-only audit log. Each row's hash covers its content and the previous row's hash;
`audit_head` holds the last sequence number and hash, the id of the key the chain is under and
an HMAC over them, so truncating the tail is detected too (audit/chain.py)."""
from __future__ import annotations

from sqlalchemy import Double, Index, Integer, String, Text

from .base import Base, Mapped, mapped_column


class AuditLog(Base):
    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_log_action", "action", "ts"), Index("ix_audit_log_actor", "actor", "ts"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)
    ts: Mapped[float] = mapped_column(Double)
    actor: Mapped[str] = mapped_column(String(200))
    action: Mapped[str] = mapped_column(String(100))
    target: Mapped[str] = mapped_column(String(300), default="")
    result: Mapped[str] = mapped_column(String(40), default="ok")
    details: Mapped[str] = mapped_column(Text, default="{}")
    prev_hash: Mapped[str] = mapped_column(String(64))
    hash: Mapped[str] = mapped_column(String(64))


class AuditHead(Base):
    __tablename__ = "audit_head"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, default=0)
    hash: Mapped[str] = mapped_column(String(64))
    key_id: Mapped[str] = mapped_column(String(40), default="", server_default="")     # "" = legacy
    mac: Mapped[str] = mapped_column(String(64), default="", server_default="")
