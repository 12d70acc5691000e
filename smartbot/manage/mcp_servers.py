"""The MCP servers as the admin page and the API show them: each server's state (connected, its
tools with the permission each needs, the last error) and the connection test.

Servers are defined only in smartbot.toml, so there is nothing here to create or change. A test
connects again from scratch and is audited (`mcp.tested`); its error text is masked like any other.
"""
from __future__ import annotations

from typing import Any

from .. import audit
from ..audit import actors
from ..auth.rbac import Principal
from ..i18n.reasons import reason
from ..mcp.jsonrpc import McpError
from .errors import NotFound


def listing(runtime: Any) -> list[dict[str, Any]]:
    return [handle.state() for handle in runtime.mcp.servers.values()]


def test(runtime: Any, caller: Principal, name: str) -> dict[str, Any]:
    handle = runtime.mcp.get(name)
    if handle is None:
        raise NotFound(reason("reason.mcp.no_server", name=name[:40]))
    error = ""
    try:
        handle.test()
    except McpError as exc:
        error = handle.last_error or exc.reason
    with runtime.db.write() as conn:
        audit.record(conn, "mcp.tested", actors.of_caller(caller.identity, caller.name), f"mcp:{name}",
                     "error" if error else "ok", {"error": error, "tools": len(handle.cached_tools())})
    return {"ok": not error, "error": error, "server": handle.state()}
