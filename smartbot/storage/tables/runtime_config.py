"""What admins change at run time: routing rules, model providers, and key/value settings."""
from __future__ import annotations

from sqlalchemy import JSON, Boolean, Double, Integer, String

from .base import Base, Mapped, mapped_column, now


class Rule(Base):
    """One routing rule: `match` (a dict of conditions) -> `action` with `params`; lowest position first."""
    __tablename__ = "rules"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    position: Mapped[int] = mapped_column(Integer, default=100)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    match: Mapped[dict] = mapped_column(JSON, default=dict)
    action: Mapped[str] = mapped_column(String(20))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    source: Mapped[str] = mapped_column(String(20), default="db")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class Provider(Base):
    """A model provider. The API key is never stored: only the name of the env var that holds it,
    and `key_origin`, the scheme://host:port that key was confirmed for (it is sent nowhere else)."""
    __tablename__ = "providers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    kind: Mapped[str] = mapped_column(String(20))
    base_url: Mapped[str] = mapped_column(String(500))
    api_key_env: Mapped[str] = mapped_column(String(100), default="")
    key_origin: Mapped[str] = mapped_column(String(300), default="")
    model: Mapped[str] = mapped_column(String(200))
    params: Mapped[dict] = mapped_column(JSON, default=dict)
    enabled: Mapped[bool] = mapped_column(Boolean, default=True)
    source: Mapped[str] = mapped_column(String(20), default="db")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)


class Setting(Base):
    """Small run-time values (e.g. the active provider, version counters for caches)."""
    __tablename__ = "settings"
    key: Mapped[str] = mapped_column(String(100), primary_key=True)
    value: Mapped[dict | list | str | int | None] = mapped_column(JSON, nullable=True)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)
