"""One connection to one MCP server: the handshake, the tool list (every page), tool calls, ping.

The transport (stdio or Streamable HTTP) moves messages; this class knows the MCP methods. A
server that forgot our HTTP session is initialized again and the call retried once. When the
server says its tools changed (`notifications/tools/list_changed`), `tools_changed` is set so the
owner lists them again before the next use. Synchronous: one caller waits for its answer, others
may call at the same time (answers are matched by id).
"""
from __future__ import annotations

import logging
import threading
from dataclasses import dataclass, field
from typing import Any, Protocol

from .. import version
from . import content, jsonrpc
from .jsonrpc import McpProtocolError, SessionExpired

log = logging.getLogger(__name__)
MAX_PAGES = 20              # tools/list pages followed at most (a server looping its cursor stops here)
MAX_TOOLS = 500


class Transport(Protocol):
    alive: bool
    stderr_tail: Any

    def exchange(self, message: dict[str, Any], timeout: float) -> dict[str, Any]: ...
    def notify(self, message: dict[str, Any], timeout: float) -> None: ...
    def close(self) -> None: ...


@dataclass(frozen=True)
class RemoteTool:
    """A tool as the server lists it."""

    name: str
    description: str
    input_schema: dict[str, Any] = field(default_factory=dict)


@dataclass
class CallResult:
    """What a tools/call returned: its text for the model (content.py: other content summarised,
    structuredContent as JSON), the images it carried as files, and whether the tool reported an error."""

    text: str
    is_error: bool
    files: list[dict[str, str]] = field(default_factory=list)


class McpClient:
    def __init__(self, transport: Transport, handshake_timeout: float = 20.0) -> None:
        self.transport = transport
        self.handshake_timeout = handshake_timeout
        self.server_info: dict[str, Any] = {}
        self.tools_changed = threading.Event()
        self._handshake_lock = threading.Lock()

    def on_notification(self, message: dict[str, Any]) -> None:
        if message.get("method") == "notifications/tools/list_changed":
            self.tools_changed.set()

    def initialize(self) -> None:
        with self._handshake_lock:
            answer = self.transport.exchange(jsonrpc.request("initialize", {
                "protocolVersion": jsonrpc.PROTOCOL_VERSION, "capabilities": {},
                "clientInfo": {"name": "smartbot", "version": version.__version__}}), self.handshake_timeout)
            result = jsonrpc.result_of(answer)
            agreed = result.get("protocolVersion")
            if not isinstance(agreed, str) or not agreed:
                raise McpProtocolError("the server's initialize answer names no protocol version")
            self.server_info = result.get("serverInfo") if isinstance(result.get("serverInfo"), dict) else {}
            if hasattr(self.transport, "protocol_version"):
                self.transport.protocol_version = agreed
            self.transport.notify(jsonrpc.notification("notifications/initialized"), self.handshake_timeout)
            listen = getattr(self.transport, "listen", None)
            if listen is not None:
                listen()

    def request(self, method: str, params: dict[str, Any] | None, timeout: float) -> dict[str, Any]:
        try:
            return jsonrpc.result_of(self.transport.exchange(jsonrpc.request(method, params), timeout))
        except SessionExpired:
            log.info("MCP session expired; initializing again")
            self.initialize()
            return jsonrpc.result_of(self.transport.exchange(jsonrpc.request(method, params), timeout))

    def list_tools(self, timeout: float) -> list[RemoteTool]:
        self.tools_changed.clear()
        tools: list[RemoteTool] = []
        cursor: Any = None
        for _ in range(MAX_PAGES):
            result = self.request("tools/list", {"cursor": cursor} if cursor else {}, timeout)
            for item in result.get("tools") or []:
                tool = _tool(item)
                if tool is not None and len(tools) < MAX_TOOLS:
                    tools.append(tool)
            cursor = result.get("nextCursor")
            if not isinstance(cursor, str) or not cursor:
                break
        return tools

    def call_tool(self, name: str, arguments: dict[str, Any], timeout: float) -> CallResult:
        result = self.request("tools/call", {"name": name, "arguments": arguments}, timeout)
        summary = content.summarise(result, name)
        return CallResult(summary.text, result.get("isError") is True, summary.files)

    def ping(self, timeout: float) -> None:
        self.request("ping", None, timeout)

    def close(self) -> None:
        self.transport.close()


def _tool(item: Any) -> RemoteTool | None:
    if not isinstance(item, dict) or not isinstance(item.get("name"), str) or not item["name"]:
        return None
    schema = item.get("inputSchema")
    return RemoteTool(item["name"][:128], str(item.get("description") or "")[:1000],
                      schema if isinstance(schema, dict) else {"type": "object"})

