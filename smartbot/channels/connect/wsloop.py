"""One websocket connection read frame by frame, for the connectors that speak a protocol over a
websocket (DingTalk Stream, Feishu's long connection, WeCom's AI-bot connection).

The `websockets` library's blocking client, so a connector is one plain thread with no event loop of
its own: `frames` yields what arrives and wakes every `tick` seconds with None, so the connector can
send its heartbeats and see `link.stopping()`; `close` from another thread ends a blocked read at
once. Every library error is translated here into `ConnectionLost`, with a reason that never holds
the URL (DingTalk's carries a ticket, a fake's may carry anything).
"""
from __future__ import annotations

import logging
from abc import abstractmethod
from typing import Any, Iterator
from urllib.parse import urlsplit

from .base import Connector, Link

log = logging.getLogger(__name__)
# The library's own logger: at DEBUG it prints frames, and our frames carry a bot secret (WeCom's
# subscription) or a ticket in the URL (DingTalk); it never goes below INFO, whatever the root level.
_PROTOCOL_LOG = logging.getLogger(__name__ + ".protocol")
_PROTOCOL_LOG.setLevel(logging.INFO)

MAX_FRAME = 4 * 1024 * 1024     # Feishu fragments large events; no platform sends more in one frame
OPEN_TIMEOUT = 10.0
MALFORMED = "malformed_frame"     # the refusal key: audited once per interval, whatever the detail


class ConnectionLost(Exception):
    """The connection could not be opened, or ended; the gateway reconnects with backoff."""


class Socket:
    """An open websocket. `ping_interval` is the protocol-level ping the library keeps (None: the
    platform has its own heartbeat frames, which the connector sends)."""

    def __init__(self, url: str, *, ping_interval: float | None = 20.0, what: str = "the platform",
                 open_timeout: float = OPEN_TIMEOUT) -> None:
        from websockets.exceptions import InvalidHandshake, InvalidURI, WebSocketException
        from websockets.sync.client import connect

        self.what = what
        try:
            self._ws = connect(url, open_timeout=open_timeout, ping_interval=ping_interval, ping_timeout=20.0,
                               close_timeout=2.0, max_size=MAX_FRAME, compression=None, proxy=None,
                               logger=_PROTOCOL_LOG)
        except InvalidURI:
            raise ConnectionLost(f"{what} gave a websocket address that is not a ws:// or wss:// URL") from None
        except InvalidHandshake as exc:
            raise ConnectionLost(f"{what} refused the websocket ({type(exc).__name__})") from None
        except (OSError, TimeoutError, WebSocketException) as exc:
            raise ConnectionLost(f"could not reach {what}'s websocket ({type(exc).__name__})") from None

    def frames(self, tick: float) -> Iterator[str | bytes | None]:
        """What arrives, in order; None every `tick` seconds of silence. Ends with ConnectionLost."""
        from websockets.exceptions import ConnectionClosed, WebSocketException

        while True:
            try:
                yield self._ws.recv(timeout=tick)
            except TimeoutError:
                yield None
            except ConnectionClosed as exc:
                code = exc.rcvd.code if exc.rcvd else None
                raise ConnectionLost(f"{self.what} closed the connection (code {code})") from None
            except (OSError, WebSocketException) as exc:
                raise ConnectionLost(f"the connection to {self.what} failed ({type(exc).__name__})") from None

    def send(self, data: str | bytes) -> None:
        from websockets.exceptions import WebSocketException

        try:
            self._ws.send(data)
        except (OSError, WebSocketException) as exc:
            raise ConnectionLost(f"could not write to {self.what} ({type(exc).__name__})") from None

    def close(self) -> None:
        """Safe from any thread, any number of times."""
        try:
            self._ws.close()
        except Exception:       # closing a broken socket: nothing left to do
            log.debug("closing the websocket to %s failed", self.what, exc_info=True)


def discover(url: str, body: dict, *, timeout: tuple[float, float], what: str,
             headers: dict[str, str] | None = None) -> dict:
    """POST `body` (credentials: never logged, never in an error) to a platform's discovery URL;
    its JSON object answer, or ConnectionLost saying what went wrong."""
    import requests

    try:
        with requests.Session() as session:
            resp = session.post(url, json=body, headers=headers or {}, timeout=timeout, allow_redirects=False)
    except requests.RequestException as exc:
        raise ConnectionLost(f"could not reach {what} ({type(exc).__name__})") from None
    try:
        data = resp.json()
    except ValueError:
        data = None
    if not isinstance(data, dict):
        raise ConnectionLost(f"{what} answered {resp.status_code} without a JSON object")
    if resp.status_code >= 400:
        detail = str(data.get("message") or data.get("msg") or data.get("code") or "")[:200]
        raise ConnectionLost(f"{what} refused the connection ({resp.status_code} {detail})".rstrip())
    return data


class WebsocketConnector(Connector):
    """A connector whose platform speaks over one websocket. `run` asks `address` for the socket's
    URL (after any discovery call), `greet`s (a subscription), then reads frames: `handle` for each,
    `beat` between them (heartbeats), until the connection ends or `link.stopping()`; `close` ends
    a blocked read from any thread. Subclasses set `what` (for messages) and implement the rest."""

    what = "the platform"
    tick = 1.0                      # the longest a read blocks before `beat` and `stopping` are looked at

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self._socket: Socket | None = None

    def run(self, link: Link) -> None:
        url = self.address()
        if link.stopping():
            return
        # never still opening a socket when the lease may have passed to another process
        self._socket = socket = Socket(url, what=self.what, open_timeout=max(0.5, min(OPEN_TIMEOUT, link.time_left())))
        frames = socket.frames(self.tick)
        try:
            self.greet(socket, frames, link)
            link.connected(urlsplit(url).hostname or "")
            for raw in frames:
                if link.stopping():
                    return
                self.beat(socket)
                if raw is not None:
                    link.event_seen()
                    self.handle(raw, socket, link)
        finally:
            socket.close()
            self.ended()

    def close(self) -> None:
        if self._socket is not None:
            self._socket.close()

    @abstractmethod
    def address(self) -> str:
        """The websocket URL to open now (a discovery call's answer, or a setting)."""

    @abstractmethod
    def handle(self, raw: str | bytes, socket: Socket, link: Link) -> None:
        """One frame from the platform."""

    def greet(self, socket: Socket, frames: Iterator[str | bytes | None], link: Link) -> None:
        """What must happen on a new connection before it counts as up."""

    def beat(self, socket: Socket) -> None:
        """Called at least every `tick` seconds: send a heartbeat when one is due."""

    def ended(self) -> None:
        """The connection is closed."""
