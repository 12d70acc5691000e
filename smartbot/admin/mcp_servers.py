"""The MCP servers page: each server with its state (connected, restarts, last error), its tools
with the permission each needs, and a test button; a form to add a Streamable HTTP server, and edit
and delete for the servers added here (manage/mcp_definitions.py checks and audits, as for the
API). Servers of smartbot.toml are shown read-only, and a stdio server is defined only there."""
from __future__ import annotations

import re

from flask import flash, redirect, request, url_for

from ..i18n import t
from ..i18n.reasons import reason
from ..manage import mcp_definitions, mcp_servers
from ..manage.errors import Invalid
from ..manage.fields import validate
from ..web.context import current_runtime
from .base import bp, done, locale, number_fields, page, render

PERMISSION = "admin:mcp"
_LIST = re.compile(r"[\s,]+")


@bp.get("/mcp")
@page(PERMISSION)
def mcp_page(principal):
    runtime = current_runtime()
    return render("admin/mcp_servers.html", principal=principal, servers=mcp_servers.listing(runtime),
                  hosts=runtime.settings.mcp.client_hosts)


@bp.post("/mcp")
@page(PERMISSION)
def mcp_create(principal):
    mcp_definitions.create(current_runtime(), principal, validate(mcp_definitions.FIELDS, _form(creating=True)))
    return done("saved", "admin.mcp_page")


@bp.post("/mcp/<name>/edit")
@page(PERMISSION)
def mcp_update(principal, name: str):
    body = validate(mcp_definitions.FIELDS, _form(creating=False), partial=True)
    mcp_definitions.update(current_runtime(), principal, name, body)
    return done("saved", "admin.mcp_page")


@bp.post("/mcp/<name>/delete")
@page(PERMISSION)
def mcp_delete(principal, name: str):
    mcp_definitions.remove(current_runtime(), principal, name)
    return done("deleted", "admin.mcp_page")


@bp.post("/mcp/<name>/test")
@page(PERMISSION)
def mcp_test(principal, name: str):
    result = mcp_servers.test(current_runtime(), principal, name)
    tools = len(result["server"]["tools"])
    flash(t("mcp.admin.test_ok", locale(), name=name, tools=tools) if result["ok"]
          else t("mcp.admin.test_failed", locale(), name=name, error=result["error"]),
          "ok" if result["ok"] else "error")
    return redirect(url_for("admin.mcp_page"))


def _form(creating: bool) -> dict:
    """The form as an API body: lists from comma- or space-separated text, headers from
    `Header = VARIABLE` lines, numbers converted (a bad one is passed on for the field check)."""
    form = request.form
    body: dict = {"url": form.get("url", "").strip(),
                  "headers_env": _headers(form.get("headers_env", "")),
                  "tools": [n for n in _LIST.split(form.get("tools", "")) if n],
                  "needs_approval": [n for n in _LIST.split(form.get("needs_approval", "")) if n],
                  **number_fields({"timeout": float, "refresh_seconds": float})}
    if creating:
        body["name"] = form.get("name", "").strip()
    return body


def _headers(text: str) -> dict[str, str]:
    headers = {}
    for line in text.splitlines():
        if not line.strip():
            continue
        header, sep, variable = line.partition("=")
        if not sep or not header.strip() or not variable.strip():
            raise Invalid(reason("reason.mcp.header_line", line=repr(line.strip()[:80])), "headers_env")
        headers[header.strip()] = variable.strip()
    return headers
