"""Per-chat profiles (a chat's persona, language, model route, knowledge, tools and quotas) and
hand-offs (a conversation waiting for, or held by, a person instead of the bot)."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Double, Index, Integer, String, Text

from .base import Base, Mapped, mapped_column, now


class Profile(Base):
    """A profile: `match` (channel, chat_id, chat_type) -> what the bot is in the chats it matches."""
    __tablename__ = "profiles"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    priority: Mapped[int] = mapped_column(Integer, default=0)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    match: Mapped[dict] = mapped_column(JSON, default=dict)
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    locale: Mapped[str] = mapped_column(String(20), default="")
    model_route: Mapped[str] = mapped_column(String(100), default="")
    knowledge: Mapped[list] = mapped_column(JSON, default=list)
    tools: Mapped[bool | None] = mapped_column(Boolean, nullable=True)     # None: the rule decides
    messages_per_minute: Mapped[int | None] = mapped_column(Integer, nullable=True)
    tokens_per_day: Mapped[int | None] = mapped_column(Integer, nullable=True)
    source: Mapped[str] = mapped_column(String(20), default="db")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class Handoff(Base):
    """One request for a person in one conversation (a sender in a chat), from asked to given back."""
    __tablename__ = "handoffs"
    __table_args__ = (Index("ix_handoffs_conversation_status", "conversation_key", "status"),
                      Index("ix_handoffs_status_updated", "status", "updated_at"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    conversation_key: Mapped[str] = mapped_column(String(300))
    channel: Mapped[str] = mapped_column(String(40))
    chat_id: Mapped[str] = mapped_column(String(200))
    user_id: Mapped[str] = mapped_column(String(200))
    user_name: Mapped[str] = mapped_column(String(200), default="")
    reply_context: Mapped[dict] = mapped_column(JSON, default=dict)
    locale: Mapped[str] = mapped_column(String(20), default="")
    via: Mapped[str] = mapped_column(String(40), default="")        # human | rule:<name> | ...
    status: Mapped[str] = mapped_column(String(20))                 # waiting | held | released | expired
    agent: Mapped[str] = mapped_column(String(200), default="")     # who answered last
    replies: Mapped[int] = mapped_column(Integer, default=0)
    requested_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now)  # last activity: the timeout counts from it
    closed_at: Mapped[float | None] = mapped_column(Double, nullable=True)
