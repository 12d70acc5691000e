"""Personal API tokens (only their SHA-256 is stored) and the sessions of SmartBot's own MCP
server (/mcp), kept here so that any gunicorn worker or node can serve a session another began."""
from __future__ import annotations

from sqlalchemy import JSON, Double, ForeignKey, Integer, String

from .base import Base, Mapped, mapped_column, now


class ApiToken(Base):
    """One personal API token: who it stands for, its hash (never the token), when it ends."""
    __tablename__ = "api_tokens"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    hint: Mapped[str] = mapped_column(String(20))           # the token's first characters, to tell tokens apart
    # The user's token generation when it was made: a password, role or active-flag change ends it.
    generation: Mapped[int] = mapped_column(Integer)
    created_by: Mapped[str] = mapped_column(String(200))
    created_at: Mapped[float] = mapped_column(Double, default=now)
    expires_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    last_used_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    revoked_at: Mapped[float | None] = mapped_column(Double, nullable=True)
    revoked_by: Mapped[str] = mapped_column(String(200), default="")


class McpSession(Base):
    """A session of an MCP client at /mcp (its Mcp-Session-Id), bound to the token that began it."""
    __tablename__ = "mcp_sessions"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    token_id: Mapped[int] = mapped_column(ForeignKey("api_tokens.id", ondelete="CASCADE"), index=True)
    protocol_version: Mapped[str] = mapped_column(String(20))
    client: Mapped[dict] = mapped_column(JSON, default=dict)
    created_at: Mapped[float] = mapped_column(Double, default=now)
    last_seen_at: Mapped[float] = mapped_column(Double, default=now, index=True)
