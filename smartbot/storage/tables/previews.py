"""Replies while the model is still writing them: the text so far, one row per message answered.

Every process reads it (a reply is streamed by whichever worker holds the message, and the page
that shows it may be served by another), so it lives in the database. A row is removed in the
transaction that stores the final reply; one left by a crash is purged by the upkeep.
"""
from __future__ import annotations

from sqlalchemy import Double, Index, String, Text

from .base import Base, Mapped, mapped_column


class MessagePreview(Base):
    __tablename__ = "message_previews"
    chat_key: Mapped[str] = mapped_column(String(300), primary_key=True)     # channel:chat_id
    reply_to: Mapped[str] = mapped_column(String(300), primary_key=True)     # the message's event_id
    text: Mapped[str] = mapped_column(Text)
    updated_at: Mapped[float] = mapped_column(Double)
    # What the platform calls the preview message (pipeline/live.py); "" where none was posted.
    platform_ref: Mapped[str] = mapped_column(String(500), default="", server_default="")
    __table_args__ = (Index("ix_message_previews_updated_at", "updated_at"),)
