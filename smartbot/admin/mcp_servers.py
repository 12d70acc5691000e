"""The MCP servers page: each server of smartbot.toml with its state (connected, restarts, last
error), its tools with the permission each needs, and a test button (manage/mcp_servers.py does
the work and audits it, as for the API). Nothing here defines a server: that is the file's job."""
from __future__ import annotations

from flask import flash, redirect, url_for

from ..i18n import t
from ..manage import mcp_servers
from ..web.context import current_runtime
from .base import bp, locale, page, render

PERMISSION = "admin:mcp"


@bp.get("/mcp")
@page(PERMISSION)
def mcp_page(principal):
    return render("admin/mcp_servers.html", principal=principal, servers=mcp_servers.listing(current_runtime()))


@bp.post("/mcp/<name>/test")
@page(PERMISSION)
def mcp_test(principal, name: str):
    result = mcp_servers.test(current_runtime(), principal, name)
    tools = len(result["server"]["tools"])
    flash(t("mcp.admin.test_ok", locale(), name=name, tools=tools) if result["ok"]
          else t("mcp.admin.test_failed", locale(), name=name, error=result["error"]),
          "ok" if result["ok"] else "error")
    return redirect(url_for("admin.mcp_page"))
