"""A websocket server on 127.0.0.1 with a free port, for the fake platforms that speak one.

Each connection runs `session(ws)` on its own thread (the `websockets` library's sync server).
The server counts connections open at once and remembers the most it ever saw, so a test can
assert that a channel never had two; `drop_all()` cuts every connection as a network failure
would, without a close frame.
"""
from __future__ import annotations

import socket
import threading
from typing import Any, Callable

from urllib.parse import parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve


class WebsocketLoopback:
    def __init__(self, session: Callable[[ServerConnection], None]) -> None:
        self._session = session
        self._lock = threading.Lock()
        self.open: list[ServerConnection] = []
        self.opened = 0
        self.most_at_once = 0
        self.errors: list[str] = []
        self._server = serve(self._handle, "127.0.0.1", 0, ping_interval=None, max_size=2**22)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def start(self) -> "WebsocketLoopback":
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self.drop_all()
        self._thread.join(5)

    def drop_all(self) -> None:
        with self._lock:
            connections = list(self.open)
        for ws in connections:
            try:
                ws.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def _handle(self, ws: ServerConnection) -> None:
        with self._lock:
            self.open.append(ws)
            self.opened += 1
            self.most_at_once = max(self.most_at_once, len(self.open))
        try:
            self._session(ws)
        except ConnectionClosed:
            pass                # the client went away: the session's business ends there
        except Exception as exc:            # a fake that fails keeps serving; the test reads `errors`
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            with self._lock:
                self.open.remove(ws)


def query(ws: ServerConnection) -> dict[str, Any]:
    """The connection's query parameters (last value of each)."""
    return dict(parse_qsl(urlsplit(ws.request.path).query)) if ws.request else {}
