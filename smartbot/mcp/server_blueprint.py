"""/mcp over HTTP: the checks before any JSON-RPC is read, then server.py's answer.

In order: off unless `[mcp] serve = true` (404 saying so); a request with an Origin (which every
browser sends with a POST, and MCP clients outside a browser do not) must come from one of
`[mcp] allowed_origins` (403): comparing it with the Host header would not do, as a page reaching
a SmartBot on localhost through DNS rebinding sends a Host and an Origin that agree; the
personal API token from `Authorization: Bearer sbt_...` must stand for an active user (401 with
the reason); then POST carries one JSON-RPC message, DELETE ends a session, and GET, which would
open an event stream this server does not offer, is 405. Refused requests are audited
(`mcp.unauthorized`, rate-limited per address and reason), never with the token.

API tokens are accepted here only: the admin API and page keep their logins.
"""
from __future__ import annotations

import time

from flask import Blueprint, Response, current_app, json, request

from ..auth import api_tokens
from ..auth.api_tokens import TokenHolder, TokenRefused
from ..web.context import current_runtime
from .server import SESSION_HEADER, Answer, McpServer

bp = Blueprint("mcp_server", __name__)
OFF = "SmartBot's MCP server is off; set [mcp] serve = true in smartbot.toml to serve /mcp"
FOREIGN_ORIGIN = "the request's Origin is not among [mcp] allowed_origins"
NOT_JSON = "the body must be one JSON-RPC message (Content-Type: application/json)"


class _Refused(Exception):
    def __init__(self, status: int, reason: str, headers: dict[str, str] | None = None) -> None:
        self.status = status
        self.reason = reason
        self.headers = headers or {}
        super().__init__(reason)


@bp.route("/mcp", methods=["GET", "POST", "DELETE"])
def mcp_endpoint() -> Response:
    runtime = current_runtime()
    if not runtime.settings.mcp.serve:
        return _json(Answer(404, {"error": OFF}))
    try:
        _check_origin(runtime.settings.mcp.allowed_origins)
        holder = _holder(runtime)
    except _Refused as exc:
        _audit_refusal(exc.reason)
        return _json(Answer(exc.status, {"error": exc.reason}, exc.headers))
    server = McpServer(runtime)
    session_id = request.headers.get(SESSION_HEADER, "")
    if request.method == "GET":
        return _json(Answer(405, {"error": "this server sends no event stream: POST one JSON-RPC message"},
                            {"Allow": "POST, DELETE"}))
    if request.method == "DELETE":
        return _json(server.delete(holder, session_id))
    if request.mimetype != "application/json":
        return _json(Answer(415, {"error": NOT_JSON}))
    return _json(server.post(holder, request.get_data(cache=False), session_id,
                             request.headers.get("MCP-Protocol-Version", "")))


def _check_origin(allowed: list[str]) -> None:
    """No Origin (a client outside a browser) or an allowed one; anything else is refused."""
    origin = request.headers.get("Origin")
    if origin is not None and origin.lower().rstrip("/") not in allowed:
        raise _Refused(403, FOREIGN_ORIGIN)


def _holder(runtime) -> TokenHolder:  # noqa: ANN001 - the Runtime
    scheme, _, bearer = request.headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer":
        bearer = ""
    now = time.time()
    try:
        with runtime.db.read() as conn:
            holder = api_tokens.authenticate(conn, bearer.strip(), now)
    except TokenRefused as exc:
        raise _Refused(401, exc.reason, {"WWW-Authenticate": 'Bearer error="invalid_token"'}) from None
    if holder.stale(now):
        with runtime.db.write() as conn:
            api_tokens.touch(conn, holder.token_id, now)
    return holder


def _audit_refusal(reason: str) -> None:
    current_app.extensions["smartbot_refusals"].record(
        "mcp.unauthorized", request.remote_addr or "unknown", "mcp", reason, {"reason": reason, "path": request.path})


def _json(answer: Answer) -> Response:
    body = json.dumps(answer.body) if answer.body is not None else ""
    response = Response(body, status=answer.status,
                        content_type="application/json" if answer.body is not None else None)
    for key, value in answer.headers.items():
        response.headers[key] = value
    return response
