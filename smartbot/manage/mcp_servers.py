"""The MCP servers as the admin page and the API show them: each server's state (connected, its
tools with the permission each needs, the last error) and the connection test.

Servers of smartbot.toml are read-only (source "config"); those added through the admin page or
API (source "db", manage/mcp_definitions.py) carry their definition too, and one that no longer
passes the checks (its host left [mcp] client_hosts, say) is listed with the reason and never
contacted. A test connects again from scratch and is audited (`mcp.tested`); its error text is
masked like any other.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from .. import audit
from ..audit import actors
from ..auth.rbac import Principal
from ..i18n.reasons import reason
from ..mcp.jsonrpc import McpError
from ..storage.tables import McpServer
from . import mcp_definitions
from .errors import NotFound

_stored = McpServer.__table__


def listing(runtime: Any) -> list[dict[str, Any]]:
    runtime.mcp.sync_now()          # a change made in another worker a moment ago shows at once
    handles = runtime.mcp.servers
    with runtime.db.read() as conn:
        rows = {r.name: r for r in conn.execute(sa.select(_stored).order_by(_stored.c.name)).all()}
    found = []
    for name in sorted(set(handles) | set(rows)):
        if runtime.mcp.from_file(name):
            found.append({**handles[name].state(), "source": "config"})
            continue
        definition = mcp_definitions.as_dict(rows[name]) if name in rows else {}
        state = handles[name].state() if name in handles else {
            "name": name, "kind": "http", "connected": False, "target": definition.get("url", ""),
            "last_error": reason("reason.mcp.left_out"), "restarts": 0, "listed_at": None, "tools": []}
        found.append({**state, "source": "db", "definition": definition})
    return found


def test(runtime: Any, caller: Principal, name: str) -> dict[str, Any]:
    runtime.mcp.sync_now()
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
