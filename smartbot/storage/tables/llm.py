"""Model routes (which provider answers what) and token/cost accounting per user, provider, model and day."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Double, Index, Integer, String, Text, UniqueConstraint

from .base import Base, Mapped, mapped_column, now


class ModelRoute(Base):
    """A model route: `match` (the same conditions as a rule) -> `provider`, then `fallback`."""
    __tablename__ = "model_routes"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=100)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    match: Mapped[dict] = mapped_column(JSON, default=dict)
    provider: Mapped[str] = mapped_column(String(100))
    fallback: Mapped[list] = mapped_column(JSON, default=list)
    cache_ttl: Mapped[float] = mapped_column(Double, default=0.0)
    system_prompt: Mapped[str] = mapped_column(Text, default="")
    source: Mapped[str] = mapped_column(String(20), default="db")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class ModelUsage(Base):
    """Tokens and cost of the model calls one user made through one provider and model on one UTC day."""
    __tablename__ = "model_usage"
    __table_args__ = (UniqueConstraint("day", "user_key", "provider", "model"),
                      Index("ix_model_usage_user_day", "user_key", "day"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    day: Mapped[str] = mapped_column(String(10))            # YYYY-MM-DD, UTC
    user_key: Mapped[str] = mapped_column(String(200))      # a user's name, or channel:platform_user_id
    provider: Mapped[str] = mapped_column(String(100))
    model: Mapped[str] = mapped_column(String(200), default="")     # the model that answered
    calls: Mapped[int] = mapped_column(Integer, default=0)
    prompt_tokens: Mapped[int] = mapped_column(Integer, default=0)
    completion_tokens: Mapped[int] = mapped_column(Integer, default=0)
    cost: Mapped[float] = mapped_column(Double, default=0.0)
    updated_at: Mapped[float] = mapped_column(Double, default=now)
