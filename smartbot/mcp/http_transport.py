"""A Streamable HTTP MCP server: each message POSTed to one URL, the answer read from a JSON body or
from an SSE stream, the session kept by the `Mcp-Session-Id` header.

A 404 to a request carrying our session id means the server forgot the session: SessionExpired
tells the client to initialize again. Redirects are never followed (one could lead anywhere, with
the headers we send), and a whole call has one deadline however the server trickles its stream.
Headers (an Authorization token) are given by the caller and never logged.
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Callable, Iterator, Mapping

import requests

from ..httputil import EnvironmentOnceSession
from . import jsonrpc
from .jsonrpc import McpProtocolError, McpTimeout, McpTransportError, SessionExpired

log = logging.getLogger(__name__)
CONNECT_TIMEOUT = 5.0
LISTEN_READ_TIMEOUT = 60.0      # the server's stream may be quiet this long before it is opened again


class HttpTransport:
    def __init__(self, url: str, headers: Mapping[str, str],
                 on_notification: Callable[[dict[str, Any]], None] | None = None) -> None:
        self.url = url
        self._headers = dict(headers)
        self._on_notification = on_notification or (lambda message: None)
        self._http = EnvironmentOnceSession()
        self.session_id = ""
        self.protocol_version = ""
        self.stderr_tail: list[str] = []        # the same shape as a stdio server's; HTTP has none
        self._closed = threading.Event()
        self._listener: threading.Thread | None = None

    alive = True            # a remote server cannot be seen dying; a failed call says so

    def exchange(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        response = self._post(message, deadline)
        try:
            kind = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
            if kind == "text/event-stream":
                answer = self._from_stream(response, message["id"], deadline)
            elif kind == "application/json":
                answer = self._from_json(response.content, message["id"])
            else:
                raise McpProtocolError(f"the server answered with content type {kind or 'none'}")
        finally:
            response.close()
        if message.get("method") == "initialize":
            self.session_id = response.headers.get("Mcp-Session-Id", "")[:200]
        return answer

    def listen(self) -> None:
        """Open the server's own stream (GET) on a thread, where it sends notifications that answer
        no request (tools/list_changed); a server without one (405) just is not listened to."""
        if self.session_id and not (self._listener is not None and self._listener.is_alive()):
            self._listener = threading.Thread(target=self._listen, name="mcp-http-listen", daemon=True)
            self._listener.start()

    def _listen(self) -> None:
        while not self._closed.is_set() and self.session_id:
            headers = {**self._headers, "Accept": "text/event-stream", "Mcp-Session-Id": self.session_id}
            if self.protocol_version:
                headers["MCP-Protocol-Version"] = self.protocol_version
            try:
                with self._http.get(self.url, headers=headers, stream=True, allow_redirects=False,
                                    timeout=(CONNECT_TIMEOUT, LISTEN_READ_TIMEOUT)) as response:
                    if response.status_code != 200:
                        return          # no stream offered (405), or the session is gone
                    for data in _events(response, float("inf")):
                        for message in jsonrpc.parse(data):
                            if "method" in message and "id" not in message:
                                self._on_notification(message)
            except (jsonrpc.McpError, requests.RequestException):
                pass
            self._closed.wait(1.0)

    def notify(self, message: dict[str, Any], timeout: float) -> None:
        self._post(message, time.monotonic() + timeout).close()

    def _post(self, message: dict[str, Any], deadline: float) -> requests.Response:
        headers = {**self._headers, "Accept": "application/json, text/event-stream",
                   "Content-Type": "application/json"}
        if self.session_id:
            headers["Mcp-Session-Id"] = self.session_id
        if self.protocol_version:
            headers["MCP-Protocol-Version"] = self.protocol_version
        try:
            response = self._http.post(self.url, data=json.dumps(message).encode(), headers=headers,
                                       allow_redirects=False, stream=True,
                                       timeout=(CONNECT_TIMEOUT, _left(deadline)))
        except requests.Timeout:
            raise McpTimeout("the server did not answer in time") from None
        except requests.RequestException as exc:
            raise McpTransportError(f"cannot reach the server ({type(exc).__name__})") from None
        if response.status_code == 404 and self.session_id:
            response.close()
            self.session_id = ""
            raise SessionExpired("the server no longer knows this session")
        if response.status_code >= 300:
            response.close()
            raise McpTransportError(f"the server answered HTTP {response.status_code}")
        return response

    def _from_json(self, body: bytes, request_id: Any) -> dict[str, Any]:
        for answer in jsonrpc.parse(body):
            if jsonrpc.is_response(answer) and answer.get("id") == request_id:
                return answer
        raise McpProtocolError("the server's answer does not answer our request")

    def _from_stream(self, response: requests.Response, request_id: Any, deadline: float) -> dict[str, Any]:
        for data in _events(response, deadline):
            for message in jsonrpc.parse(data):
                if jsonrpc.is_response(message) and message.get("id") == request_id:
                    return message
                if "method" in message and "id" not in message:
                    self._on_notification(message)
        if time.monotonic() >= deadline:
            raise McpTimeout("no answer in time")
        raise McpTransportError("the server ended its stream without an answer")

    def close(self) -> None:
        """End the session on the server (DELETE), then the connection pool."""
        self._closed.set()
        if self.session_id:
            try:
                self._http.delete(self.url, headers={**self._headers, "Mcp-Session-Id": self.session_id},
                                  allow_redirects=False, timeout=(CONNECT_TIMEOUT, CONNECT_TIMEOUT)).close()
            except requests.RequestException:
                pass
            self.session_id = ""
        self._http.close()


def _left(deadline: float) -> float:
    left = deadline - time.monotonic()
    if left <= 0:
        raise McpTimeout("no answer in time")
    return left


def _events(response: requests.Response, deadline: float) -> Iterator[bytes]:
    """The data of each server-sent event, until the stream ends or the deadline passes."""
    data: list[bytes] = []
    size = 0
    try:
        for line in response.iter_lines(chunk_size=None, delimiter=None):
            if time.monotonic() >= deadline:
                raise McpTimeout("no answer in time")
            if not line:
                if data:
                    yield b"\n".join(data)
                data, size = [], 0
            elif line.startswith(b"data:"):
                piece = line[5:].lstrip(b" ")
                size += len(piece)
                if size > jsonrpc.MAX_MESSAGE_BYTES:
                    raise McpProtocolError("the server sent an event larger than the limit")
                data.append(piece)
    except requests.RequestException as exc:
        # requests reports a read timeout inside a stream as a ConnectionError
        if isinstance(exc, requests.Timeout) or "timed out" in str(exc):
            raise McpTimeout("the server did not answer in time") from None
        raise McpTransportError(f"the stream broke ({type(exc).__name__})") from None
    if data:
        yield b"\n".join(data)
