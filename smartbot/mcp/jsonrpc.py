"""JSON-RPC 2.0 messages as MCP carries them, the errors a call can end in, and the table of calls
waiting for their answers.

Both transports use it: they move whole messages, this module builds, reads and matches them. A
message that is not JSON-RPC 2.0 is a protocol error, never an exception of the JSON parser."""
from __future__ import annotations

import itertools
import threading
from typing import Any

from ..errors import PayloadError
from ..httputil import load_json

PROTOCOL_VERSION = "2025-06-18"
MAX_MESSAGE_BYTES = 8 << 20          # one message from a server; a bigger one ends the connection


class McpError(Exception):
    """A tool call or listing failed; `kind` says how (timeout, transport, protocol, remote)."""

    kind = "error"

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason


class McpTimeout(McpError):
    kind = "timeout"


class McpTransportError(McpError):
    kind = "transport"


class SessionExpired(McpTransportError):
    """The HTTP server no longer knows our Mcp-Session-Id (404): initialize again."""


class McpProtocolError(McpError):
    kind = "protocol"


class McpRemoteError(McpError):
    """The server answered the request with a JSON-RPC error."""

    kind = "remote"

    def __init__(self, code: int, message: str) -> None:
        super().__init__(f"the server answered error {code}: {message[:300]}")
        self.code = code


_ids = itertools.count(1)


def request(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "id": next(_ids), "method": method}
    if params is not None:
        message["params"] = params
    return message


def notification(method: str, params: dict[str, Any] | None = None) -> dict[str, Any]:
    message: dict[str, Any] = {"jsonrpc": "2.0", "method": method}
    if params is not None:
        message["params"] = params
    return message


def reply(request_id: Any, result: dict[str, Any] | None = None, error: tuple[int, str] | None = None) -> dict[str, Any]:
    """Our answer to a request the server sent us (ping; anything else is 'method not found')."""
    if error is not None:
        return {"jsonrpc": "2.0", "id": request_id, "error": {"code": error[0], "message": error[1]}}
    return {"jsonrpc": "2.0", "id": request_id, "result": result or {}}


def parse(raw: bytes | str) -> list[dict[str, Any]]:
    """The messages in one frame (a batch is a list), each checked to be JSON-RPC 2.0."""
    try:
        data = load_json(raw, "MCP message", max_bytes=MAX_MESSAGE_BYTES)
    except PayloadError as exc:
        raise McpProtocolError(exc.reason) from None
    messages = data if isinstance(data, list) else [data]
    for message in messages:
        if not isinstance(message, dict) or message.get("jsonrpc") != "2.0":
            raise McpProtocolError("the server sent something that is not a JSON-RPC 2.0 message")
    return messages


def is_response(message: dict[str, Any]) -> bool:
    return "id" in message and "method" not in message and ("result" in message or "error" in message)


def result_of(message: dict[str, Any]) -> dict[str, Any]:
    """The result of a response, or the McpRemoteError it carries."""
    if "error" in message:
        error = message["error"] if isinstance(message["error"], dict) else {}
        code = error.get("code") if isinstance(error.get("code"), int) else -32603
        raise McpRemoteError(code, str(error.get("message", "")))
    result = message.get("result")
    if not isinstance(result, dict):
        raise McpProtocolError("the server's result is not an object")
    return result


class Waiting:
    """Requests sent and not yet answered, by id: a reader thread hands each answer to its caller."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._slots: dict[Any, list[Any]] = {}
        self._failure: McpError | None = None

    def expect(self, request_id: Any) -> threading.Event:
        event = threading.Event()
        with self._lock:
            if self._failure is not None:
                raise self._failure
            self._slots[request_id] = [event, None]
        return event

    def answer(self, message: dict[str, Any]) -> None:
        with self._lock:
            slot = self._slots.get(message.get("id"))
        if slot is not None:
            slot[1] = message
            slot[0].set()

    def take(self, request_id: Any) -> dict[str, Any] | None:
        with self._lock:
            slot = self._slots.pop(request_id, None)
            failure = self._failure
        if slot is not None and slot[1] is not None:
            return slot[1]
        if failure is not None:
            raise failure
        return None

    def fail_all(self, failure: McpError) -> None:
        """The connection is gone: every waiting caller gets `failure`, and so does every later one."""
        with self._lock:
            self._failure = failure
            slots = list(self._slots.values())
        for slot in slots:
            slot[0].set()
