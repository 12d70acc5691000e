"""/api/v1/mcp/servers: the MCP servers (of smartbot.toml, read-only, and those added here), their
state and tools, a connection test, and adding, changing and removing Streamable HTTP servers. The
work is manage/mcp_servers.py's and manage/mcp_definitions.py's, shared with the admin page."""
from __future__ import annotations

from flask import Blueprint

from ..manage import mcp_definitions, mcp_servers
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


@route(bp, "/mcp/servers", "POST", summary="Add a Streamable HTTP MCP server (its host must be in [mcp] "
       "client_hosts; stdio servers only in smartbot.toml)", permission="admin:mcp", tag="mcp",
       body=mcp_definitions.FIELDS)
def create_server(ctx: ApiContext):
    return mcp_definitions.create(ctx.runtime, ctx.principal, ctx.body), 201


@route(bp, "/mcp/servers/<name>", "PATCH", summary="Change an MCP server added through the API or page",
       permission="admin:mcp", tag="mcp", body=mcp_definitions.FIELDS, partial=True)
def update_server(ctx: ApiContext, name: str):
    return mcp_definitions.update(ctx.runtime, ctx.principal, name, ctx.body)


@route(bp, "/mcp/servers/<name>", "DELETE", summary="Remove an MCP server added through the API or page",
       permission="admin:mcp", tag="mcp")
def delete_server(ctx: ApiContext, name: str):
    mcp_definitions.remove(ctx.runtime, ctx.principal, name)
    return {"deleted": name}
