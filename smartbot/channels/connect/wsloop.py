"""The connector base for every platform that speaks over one websocket (Slack Socket Mode, the
Discord Gateway, DingTalk Stream, Feishu's long connection, WeCom's AI-bot connection).

`run` asks the subclass where to connect (a discovery call, or a setting), opens the socket with the
open bounded by the time this process surely still holds the channel, lets the subclass greet
(HELLO, a subscription), then reads frames one at a time: `beat` before each read (heartbeats),
`handle` for each frame, with every read short enough to see `link.stopping()` promptly. The
platform's own protocol stays in its connector; only the loop is shared.
"""
from __future__ import annotations

from abc import abstractmethod
from typing import Any, Iterator
from urllib.parse import urlsplit

from ..support import http
from .base import Connector, Link
from .websocket import OPEN_TIMEOUT, Socket, SocketClosed

MALFORMED = "malformed_frame"     # the refusal key: audited once per interval, whatever the detail


class WebsocketConnector(Connector):
    """A connector whose platform speaks over one websocket. Subclasses set `what` (for messages)
    and implement `address` and `handle`; the other hooks have defaults."""

    what = "the platform"
    tick = 1.0                      # the longest a read blocks before `beat` and `stopping` are looked at
    close_code = 1000
    socket_options: dict[str, Any] = {}     # passed to Socket (headers, ping_interval, ...)

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self._http = http.pooled_session(pool_size=1)       # for the discovery call
        self._socket: Socket | None = None

    def run(self, link: Link) -> None:
        url = self.address(link)
        if not url or link.stopping():
            return
        try:
            # never still opening a socket when the lease may have passed to another process
            socket = Socket(url, what=self.what, open_timeout=max(0.5, min(OPEN_TIMEOUT, link.time_left())),
                            **self.socket_options)
            self._socket = socket
            try:
                self._serve(socket, link, urlsplit(url).hostname or "")
            finally:
                self._socket = None
                socket.close(self.close_code)
        except SocketClosed as exc:
            self.lost(exc, link)
        finally:
            self.ended(link)

    def _serve(self, socket: Socket, link: Link, host: str) -> None:
        frames = self.frames(socket, link)
        self.greet(socket, frames, link)
        self.up(link, host)
        for raw in frames:
            if link.stopping():
                return
            self.beat(socket)
            if raw is not None:
                link.event_seen()
                if self.handle(raw, socket, link) is False:
                    return

    def frames(self, socket: Socket, link: Link) -> Iterator[str | bytes | None]:
        """What arrives, in order; None after a quiet `read_timeout`. Ends with SocketClosed."""
        while True:
            yield socket.receive(self.read_timeout(link))

    def close(self) -> None:
        socket = self._socket
        if socket is not None:
            socket.close(self.close_code)

    @abstractmethod
    def address(self, link: Link) -> str:
        """The websocket URL to open now (a discovery call's answer, or a setting); "" to open none
        this time (e.g. after waiting out a rate limit)."""

    @abstractmethod
    def handle(self, raw: str | bytes, socket: Socket, link: Link) -> bool | None:
        """One frame from the platform; False ends the connection here."""

    def read_timeout(self, link: Link) -> float:
        return max(0.05, min(self.tick, link.time_left()))

    def greet(self, socket: Socket, frames: Iterator[str | bytes | None], link: Link) -> None:
        """What must happen on a new connection before it counts as up."""

    def up(self, link: Link, host: str) -> None:
        """The connection counts as up (a connector whose platform says so in a frame says it then)."""
        link.connected(host)

    def beat(self, socket: Socket) -> None:
        """Called at least every `tick` seconds: send a heartbeat when one is due."""

    def lost(self, exc: SocketClosed, link: Link) -> None:
        """The socket could not open or ended: by default the gateway hears of it and reconnects."""
        raise exc

    def ended(self, link: Link) -> None:
        """The connection is closed (or never opened)."""
