"""One websocket connection for a connector, and the HTTP call that says where to open it.

Built on the `websockets` library's synchronous client, which runs no event loop of its own: the
connector's thread reads frames in order and acknowledges each after it is stored, and `close` from
another thread ends a blocked read at once. The library is an optional extra (`smartbot[slack]`,
`[discord]`, `[dingtalk]`, `[feishu]`, `[wecom]`); the connector registry imports this module only
for a channel in connect mode, and names the extra to install when it is missing. Every library or
HTTP error is translated here into `SocketClosed`, whose reason never holds a URL (Slack's and
DingTalk's carry a ticket) nor the credentials a discovery call posts.
"""
from __future__ import annotations

import json
import logging
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import requests
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI, WebSocketException
from websockets.sync.client import connect

from ...errors import DeliveryError, SmartBotError
from ...httputil import retry_after_seconds
from ..support import http

log = logging.getLogger(__name__)

MAX_FRAME_BYTES = 8 * 1024 * 1024      # Discord's READY lists every server the bot is in
OPEN_TIMEOUT = 10.0
CLOSE_TIMEOUT = 3.0
# DingTalk, Feishu and WeCom connect without a proxy from the environment and without compression.
PLAIN: dict[str, Any] = {"compression": None, "proxy": None}
_ERRORS = (WebSocketException, OSError, TimeoutError)
# The library logs its handshake (a URL with a ticket) and every frame (people's messages, WeCom's
# subscription with the bot secret) at DEBUG: its log stays at INFO and above whatever level the
# rest of SmartBot logs at.
_LIBRARY_LOG = logging.getLogger(__name__ + ".library")
_LIBRARY_LOG.setLevel(logging.INFO)


class SocketClosed(SmartBotError):
    """The connection ended (or never opened); `code` is the close code when there was one. The
    gateway reconnects with backoff."""

    def __init__(self, reason: str, code: int | None = None) -> None:
        self.reason = reason
        self.code = code
        super().__init__(reason)


class Malformed(ValueError):
    """A frame that is not a JSON object: dropped, reported with `Link.refuse`."""


class Socket:
    """An open websocket. `receive` waits up to `timeout` seconds for a frame (None when none came);
    it and `send` raise SocketClosed once the connection is gone. `ping_interval` is the
    protocol-level ping the library keeps (None: the platform has heartbeat frames of its own)."""

    def __init__(self, url: str, *, what: str = "the platform", headers: dict[str, str] | None = None,
                 open_timeout: float = OPEN_TIMEOUT, ping_interval: float | None = 20.0, **options: Any) -> None:
        self.what = what
        scheme = urlparse(url).scheme
        if scheme not in ("ws", "wss"):
            raise SocketClosed(f"{what} gave a {scheme or 'schemeless'} address, not a ws:// or wss:// URL")
        try:
            self._ws = connect(url, additional_headers=headers, open_timeout=open_timeout, ping_interval=ping_interval,
                               close_timeout=CLOSE_TIMEOUT, max_size=MAX_FRAME_BYTES, user_agent_header="SmartBot",
                               logger=_LIBRARY_LOG, **options)
        except (InvalidURI, InvalidHandshake) as exc:
            raise SocketClosed(f"{what} refused the websocket ({type(exc).__name__})") from None
        except _ERRORS as exc:
            raise SocketClosed(f"could not open the websocket to {urlparse(url).hostname}: "
                               f"{type(exc).__name__}") from None

    def receive(self, timeout: float) -> str | bytes | None:
        try:
            return self._ws.recv(timeout=timeout)
        except TimeoutError:
            return None
        except _ERRORS as exc:
            raise self._closed(exc) from None

    def send(self, data: dict[str, Any] | str | bytes) -> None:
        """A dict goes as compact JSON text; text and bytes as they are."""
        if isinstance(data, dict):
            data = json.dumps(data, separators=(",", ":"))
        try:
            self._ws.send(data)
        except _ERRORS as exc:
            raise self._closed(exc) from None

    def close(self, code: int = 1000, reason: str = "") -> None:
        """Close from any thread, any number of times; a socket already gone is fine."""
        try:
            self._ws.close(code, reason)
        except Exception:       # closing a broken socket: nothing left to do
            log.debug("closing the websocket to %s failed", self.what, exc_info=True)

    def _closed(self, exc: BaseException) -> SocketClosed:
        code = self._ws.close_code
        said = (self._ws.close_reason or "")[:120]
        if code is None or not isinstance(exc, ConnectionClosed):
            return SocketClosed(f"the connection to {self.what} broke ({type(exc).__name__})")
        return SocketClosed(f"{self.what} closed the connection ({code}{': ' + said if said else ''})", code)


def json_frame(text: str | bytes) -> dict[str, Any]:
    """The frame as a JSON object, or Malformed saying why not."""
    try:
        data = json.loads(text)
    except (ValueError, RecursionError):
        raise Malformed("a frame that is not JSON") from None
    if not isinstance(data, dict):
        raise Malformed("a frame that is not a JSON object")
    return data


@dataclass(frozen=True)
class Answer:
    status: int
    data: dict[str, Any]
    retry_after: float | None


def ask(session: requests.Session, method: str, url: str, *, headers: dict[str, str],
        timeout: tuple[float, float], body: dict[str, Any] | None = None) -> Answer:
    """A discovery call (where to open the socket): the platform's answer whatever its status, for
    the connector to read; SocketClosed (naming the host only) when it could not be reached."""
    try:
        resp = http.exchange(session, method, url, headers=headers, timeout=timeout, json=body,
                             allow_redirects=False)
    except DeliveryError as exc:
        raise SocketClosed(exc.reason) from None
    return Answer(resp.status_code, http.json_body(resp), retry_after_seconds(resp.headers.get("Retry-After")))


def discover(session: requests.Session, url: str, body: dict[str, Any], *, timeout: tuple[float, float],
             what: str, headers: dict[str, str] | None = None) -> dict[str, Any]:
    """POST `body` (credentials: never logged, never in an error) to a discovery URL that answers a
    JSON object; that object, or SocketClosed saying what went wrong."""
    answer = ask(session, "POST", url, headers=headers or {}, timeout=timeout, body=body)
    data = answer.data
    if not data:
        raise SocketClosed(f"{what} answered {answer.status} without a JSON object")
    if answer.status >= 400:
        detail = str(data.get("message") or data.get("msg") or data.get("code") or "")[:200]
        raise SocketClosed(f"{what} refused the connection ({answer.status} {detail})".rstrip())
    return data
