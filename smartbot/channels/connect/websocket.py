"""One websocket connection for a connector: JSON text frames in and out, and a receive that
returns every second or so, so the connector can see `Link.stopping()` between frames.

Built on the `websockets` library's synchronous client, which runs no event loop of its own: the
connector's thread reads frames in order and acknowledges each after it is stored. The library is
an optional extra (`smartbot[slack]`, `smartbot[discord]`); the connector registry imports this
module only for a channel in connect mode, and names the extra to install when it is missing, so a
server that uses webhooks only never needs it. Its errors are translated here into `SocketClosed`;
nothing above this module sees one of the library's exceptions. URLs are never put in a reason:
Slack's carries a ticket.
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import urlparse

from websockets.exceptions import WebSocketException
from websockets.sync.client import connect

from ...errors import SmartBotError

MAX_FRAME_BYTES = 8 * 1024 * 1024      # Discord's READY lists every server the bot is in
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 3.0
_ERRORS = (WebSocketException, OSError, TimeoutError)
# The library logs its handshake (Slack's URL carries a ticket) and every frame (people's messages)
# at DEBUG: its log stays at INFO and above whatever level the rest of SmartBot logs at.
_LIBRARY_LOG = logging.getLogger(__name__ + ".library")
_LIBRARY_LOG.setLevel(logging.INFO)


class SocketClosed(SmartBotError):
    """The connection ended (or never opened); `code` is the close code when there was one."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class Malformed(ValueError):
    """A frame that is not a JSON object: dropped, reported with `Link.refuse`."""


class Socket:
    """An open websocket. `receive` waits up to `timeout` seconds for a text frame (None when
    none came); it and `send` raise SocketClosed once the connection is gone."""

    def __init__(self, url: str, *, headers: dict[str, str] | None = None) -> None:
        scheme = urlparse(url).scheme
        if scheme not in ("ws", "wss"):
            raise SocketClosed(f"the platform gave a {scheme or 'schemeless'} URL, not a websocket URL")
        try:
            self._ws = connect(url, additional_headers=headers, open_timeout=OPEN_TIMEOUT,
                               close_timeout=CLOSE_TIMEOUT, max_size=MAX_FRAME_BYTES,
                               user_agent_header="SmartBot", logger=_LIBRARY_LOG)
        except _ERRORS as exc:
            raise SocketClosed(f"could not open the websocket to {urlparse(url).hostname}: "
                               f"{type(exc).__name__}") from None

    def receive(self, timeout: float) -> str | None:
        try:
            frame = self._ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        except _ERRORS as exc:
            raise self._closed(exc) from None
        if isinstance(frame, bytes):
            return frame.decode("utf-8", "replace")
        return frame

    def send(self, data: dict[str, Any]) -> None:
        try:
            self._ws.send(json.dumps(data, separators=(",", ":")))
        except _ERRORS as exc:
            raise self._closed(exc) from None

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from any thread; a socket already gone is fine."""
        try:
            self._ws.close(code, reason)
        except _ERRORS:
            pass

    def _closed(self, exc: BaseException) -> SocketClosed:
        code = self._ws.close_code
        said = (self._ws.close_reason or "")[:120]
        if code is None:
            return SocketClosed(f"the connection broke ({type(exc).__name__})")
        return SocketClosed(f"the platform closed the connection ({code}{': ' + said if said else ''})", code)


def json_frame(text: str) -> dict[str, Any]:
    """The frame as a JSON object, or Malformed saying why not."""
    try:
        data = json.loads(text)
    except ValueError:
        raise Malformed("a frame that is not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("a frame that is not a JSON object")
    return data
