"""/api/v1/mcp/servers: the MCP servers of smartbot.toml, their state and tools, and a connection
test. The work is manage/mcp_servers.py's, shared with the admin page."""
from __future__ import annotations

from flask import Blueprint

from ..manage import mcp_servers
from .context import ApiContext
from .registry import route

bp = Blueprint("api_mcp_servers", __name__)


@route(bp, "/mcp/servers", "GET", summary="MCP servers: connected, tools (with the permission each needs), "
       "last error", permission="admin:mcp", tag="mcp")
def list_servers(ctx: ApiContext):
    return {"servers": mcp_servers.listing(ctx.runtime)}


@route(bp, "/mcp/servers/<name>/test", "POST", summary="Connect to an MCP server again, list its tools and "
       "ping it", permission="admin:mcp", tag="mcp")
def test_server(ctx: ApiContext, name: str):
    return mcp_servers.test(ctx.runtime, ctx.principal, name)
