"""The websocket half of a fake platform: a real websocket server on 127.0.0.1 (the `websockets`
library's threaded server) that records every frame a client sends, lets a test push frames and drop
connections, and counts concurrent connections (a second one at once fails `assert_one_at_a_time`).

A platform fake subclasses it and implements `admit` (the handshake: check the ticket, the
credentials) and `on_frame` (what the platform does with a client's frame)."""
from __future__ import annotations

import socket
import threading
import time
from typing import Any, Callable

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


class WebsocketFake:
    def __init__(self) -> None:
        self._ws_server = serve(self._serve, "127.0.0.1", 0, ping_interval=None, compression=None)
        self._ws_thread = threading.Thread(target=self._ws_server.serve_forever, daemon=True)
        self._ws_cv = threading.Condition()
        self.connections: list[ServerConnection] = []
        self.received: list[tuple[int, Any]] = []       # (connection number, frame as the fake read it)
        self.opened = 0
        self.most_at_once = 0

    # -- what tests call --------------------------------------------------------------------
    @property
    def ws_port(self) -> int:
        return self._ws_server.socket.getsockname()[1]

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.ws_port}/ws"

    def start(self):
        """Serve the websocket, and the platform's HTTP side too when the fake has one (a subclass
        listing WebsocketFake before its HTTP fake)."""
        self._ws_thread.start()
        http = getattr(super(), "start", None)
        if http is not None:
            http()
        return self

    def stop(self) -> None:
        self.drop()
        self._ws_server.shutdown()
        http = getattr(super(), "stop", None)
        if http is not None:
            http()

    def push(self, data: str | bytes) -> None:
        """Send a frame to the connected client; waits until one is connected."""
        assert self.wait(lambda: self.connections, 10), "no client connected"
        with self._ws_cv:
            conn = self.connections[-1]
        conn.send(data)

    def drop(self) -> None:
        """Close every connection as the platform does when it goes away (no close handshake)."""
        with self._ws_cv:
            conns = list(self.connections)
        for conn in conns:
            try:
                conn.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def frames(self, kind: Callable[[Any], bool] = lambda f: True) -> list[Any]:
        with self._ws_cv:
            return [frame for _, frame in self.received if kind(frame)]

    def wait(self, predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._ws_cv:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._ws_cv.wait(min(remaining, 0.2))
            return True

    def wait_connections(self, count: int, timeout: float = 10.0) -> bool:
        """Until `count` connections were opened in all and one is open now."""
        return self.wait(lambda: self.opened >= count and self.connections, timeout)

    def assert_one_at_a_time(self) -> None:
        assert self.most_at_once <= 1, f"{self.most_at_once} connections were open at the same time"

    # -- for subclasses ---------------------------------------------------------------------
    def admit(self, conn: ServerConnection) -> bool:
        """Whether to keep a new connection (the handshake's query is in conn.request.path)."""
        return True

    def read(self, data: str | bytes) -> Any:
        """A client's frame as the tests see it (JSON decoded, protobuf parsed)."""
        return data

    def on_frame(self, conn: ServerConnection, frame: Any) -> None:
        """React to a client's frame (reply to heartbeats, ...)."""

    def greet(self, conn: ServerConnection) -> None:
        """Anything the platform sends first."""

    # -- the server side --------------------------------------------------------------------
    def _serve(self, conn: ServerConnection) -> None:
        if not self.admit(conn):
            conn.close(4003, "refused")
            return
        with self._ws_cv:
            self.connections.append(conn)
            self.opened += 1
            number = self.opened
            self.most_at_once = max(self.most_at_once, len(self.connections))
            self._ws_cv.notify_all()
        try:
            self.greet(conn)
            for data in conn:
                frame = self.read(data)
                with self._ws_cv:
                    self.received.append((number, frame))
                    self._ws_cv.notify_all()
                self.on_frame(conn, frame)
        except (ConnectionClosed, OSError):
            pass
        finally:
            with self._ws_cv:
                self.connections.remove(conn)
                self._ws_cv.notify_all()
