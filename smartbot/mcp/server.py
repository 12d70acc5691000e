"""SmartBot's MCP server: one JSON-RPC message per POST (the Streamable HTTP transport, answered as
`application/json`; no event streams), for a caller whose personal API token was already checked.

    initialize                 -> InitializeResult and a new session (the Mcp-Session-Id header)
    notifications/*            -> 202, nothing to answer
    ping | tools/list | tools/call  (inside a session; its protocol version in MCP-Protocol-Version)

A batch (a JSON array) is refused: the protocol dropped them in 2025-06-18 and one message per
request keeps every call audited on its own. Errors say what was wrong with the standard JSON-RPC
codes, never a traceback. Plain data in and out; the blueprint (server_blueprint.py) speaks HTTP.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

from ..auth.api_tokens import TokenHolder
from ..errors import PayloadError
from ..httputil import load_json
from ..version import __version__
from . import server_sessions, server_tools

log = logging.getLogger(__name__)

# Newest first: an unknown version asked for is answered with the newest we speak.
PROTOCOL_VERSIONS = ("2025-11-25", "2025-06-18", "2025-03-26")
SESSION_HEADER = "Mcp-Session-Id"
PARSE_ERROR, INVALID_REQUEST, METHOD_NOT_FOUND, INVALID_PARAMS = -32700, -32600, -32601, -32602
INSTRUCTIONS = ("SmartBot's catalogue commands (command_*), workflows (workflow_*) and read-only views "
                "(smartbot_*) this user may use. Commands that need approval answer with the request's id "
                "and run once an approver agrees.")


@dataclass
class Answer:
    """What to send back: an HTTP status, a JSON body (None: no body) and headers."""

    status: int
    body: dict[str, Any] | None = None
    headers: dict[str, str] = field(default_factory=dict)


def error(status: int, code: int, message: str, rpc_id: Any = None) -> Answer:
    return Answer(status, {"jsonrpc": "2.0", "id": rpc_id, "error": {"code": code, "message": message}})


def _result(rpc_id: Any, result: dict[str, Any], headers: dict[str, str] | None = None) -> Answer:
    return Answer(200, {"jsonrpc": "2.0", "id": rpc_id, "result": result}, headers or {})


def _valid_id(rpc_id: Any) -> bool:
    return isinstance(rpc_id, str) and len(rpc_id) <= 200 or isinstance(rpc_id, int) and not isinstance(rpc_id, bool)


class McpServer:
    def __init__(self, runtime: Any) -> None:
        self.runtime = runtime
        self.idle_seconds = runtime.settings.mcp.session_idle_minutes * 60

    def post(self, holder: TokenHolder, raw: bytes, session_id: str, version_header: str) -> Answer:
        try:
            message = load_json(raw, "JSON-RPC message")
        except PayloadError as exc:
            return error(exc.status, PARSE_ERROR, exc.reason)
        if isinstance(message, list):
            return error(400, INVALID_REQUEST, "batches are not supported: send one JSON-RPC message per request")
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            return error(400, INVALID_REQUEST, 'not a JSON-RPC 2.0 message (an object with "jsonrpc": "2.0")')
        method, notification = message.get("method"), "id" not in message
        if method is None and ("result" in message or "error" in message):
            return Answer(202)          # an answer to a request we never make: nothing to do
        if not isinstance(method, str) or not (notification or _valid_id(message["id"])):
            return error(400, INVALID_REQUEST, "a request needs a method (text) and an id (text or a whole number)")
        rpc_id = message.get("id")
        params = message.get("params", {})
        if not isinstance(params, dict):
            return error(400, INVALID_PARAMS, "params must be an object", rpc_id)
        if method == "initialize":
            if notification:
                return error(400, INVALID_REQUEST, "initialize is a request: give it an id")
            return self._initialize(holder, rpc_id, params)
        if version_header and version_header not in PROTOCOL_VERSIONS:
            return error(400, INVALID_REQUEST, f"unsupported MCP-Protocol-Version {version_header[:40]!r}; "
                                               f"this server speaks {', '.join(PROTOCOL_VERSIONS)}", rpc_id)
        if not session_id:
            return error(400, INVALID_REQUEST, f"no {SESSION_HEADER} header: send initialize first", rpc_id)
        session = server_sessions.find(self.runtime.db, session_id, holder.token_id, self.idle_seconds)
        if session is None:
            return error(404, INVALID_REQUEST, "no such session (ended, idle too long, or another token's): "
                                               "initialize again", rpc_id)
        if version_header and version_header != session.protocol_version:
            return error(400, INVALID_REQUEST, f"MCP-Protocol-Version {version_header!r} is not the session's "
                                               f"({session.protocol_version})", rpc_id)
        if notification:
            return Answer(202)
        return self._request(holder, session_id, rpc_id, method, params)

    def _initialize(self, holder: TokenHolder, rpc_id: Any, params: dict[str, Any]) -> Answer:
        asked = params.get("protocolVersion")
        version = asked if asked in PROTOCOL_VERSIONS else PROTOCOL_VERSIONS[0]
        session_id = server_sessions.begin(self.runtime.db, holder.token_id, version, params.get("clientInfo"),
                                           self.idle_seconds)
        return _result(rpc_id, {"protocolVersion": version, "capabilities": {"tools": {"listChanged": False}},
                                "serverInfo": {"name": self.runtime.settings.bot_name[:100], "version": __version__},
                                "instructions": INSTRUCTIONS}, {SESSION_HEADER: session_id})

    def _request(self, holder: TokenHolder, session_id: str, rpc_id: Any, method: str,
                 params: dict[str, Any]) -> Answer:
        principal = holder.principal
        if method == "ping":
            return _result(rpc_id, {})
        if method == "tools/list":
            tools = server_tools.listing(self.runtime, principal)
            return _result(rpc_id, {"tools": [tool.listed() for tool in tools]})
        if method == "tools/call":
            name, arguments = params.get("name"), params.get("arguments", {})
            if arguments is None:
                arguments = {}
            if not isinstance(name, str) or not name or not isinstance(arguments, dict):
                return error(200, INVALID_PARAMS, "tools/call needs a tool name (text) and arguments (an object)",
                             rpc_id)
            key = f"mcp:{session_id}:{rpc_id}"
            return _result(rpc_id, server_tools.call(self.runtime, principal, name, arguments, key).result())
        return error(200, METHOD_NOT_FOUND, f"method {method[:60]!r} is not served here", rpc_id)

    def delete(self, holder: TokenHolder, session_id: str) -> Answer:
        if not session_id:
            return error(400, INVALID_REQUEST, f"no {SESSION_HEADER} header: which session should end?")
        if server_sessions.find(self.runtime.db, session_id, holder.token_id, self.idle_seconds) is None:
            return error(404, INVALID_REQUEST, "no such session")
        server_sessions.end(self.runtime.db, session_id)
        return Answer(204)
