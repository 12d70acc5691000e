"""Files a web chat visitor uploaded for their next message: held until a worker has read them for
that message's turn, then purged (they are never kept as history; memory keeps text)."""
from __future__ import annotations

from sqlalchemy import Double, Index, Integer, LargeBinary, String

from .base import Base, Mapped, mapped_column


class ChatUpload(Base):
    __tablename__ = "chat_uploads"
    key: Mapped[str] = mapped_column(String(64), primary_key=True)       # random, named in the message
    chat_id: Mapped[str] = mapped_column(String(100))                    # only this chat's messages may use it
    name: Mapped[str] = mapped_column(String(200))
    mime: Mapped[str] = mapped_column(String(100))                       # read from the bytes
    size: Mapped[int] = mapped_column(Integer)
    data: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[float] = mapped_column(Double)
    __table_args__ = (Index("ix_chat_uploads_created_at", "created_at"),)
