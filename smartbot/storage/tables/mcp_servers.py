"""MCP servers added through the admin page or API. Only Streamable HTTP servers are stored here:
a stdio server is a program SmartBot starts, so it is defined in smartbot.toml only."""
from __future__ import annotations

from sqlalchemy import JSON, Double, Integer, String

from .base import Base, Mapped, mapped_column, now


class McpServer(Base):
    """One MCP server an admin added: where it is, the headers it gets from variables, its tools."""
    __tablename__ = "mcp_servers"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(32), unique=True)
    url: Mapped[str] = mapped_column(String(2000))
    headers_env: Mapped[dict] = mapped_column(JSON, default=dict)
    tools: Mapped[list] = mapped_column(JSON, default=list)
    needs_approval: Mapped[list] = mapped_column(JSON, default=list)
    timeout: Mapped[float] = mapped_column(Double, default=30.0)
    refresh_seconds: Mapped[float] = mapped_column(Double, default=300.0)
    created_by: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[float] = mapped_column(Double, default=now)
    updated_at: Mapped[float] = mapped_column(Double, default=now, onupdate=now)
