"""The websocket half of every fake platform: a real websocket server on 127.0.0.1 with a free
port (the `websockets` library's threaded server), and `WebsocketPlatform`, the base of each fake.

The server counts connections open at once and remembers the most it ever saw, so a test can
assert that a channel never had two; `drop()` cuts every connection as a network failure would,
without a close frame; a fake that fails keeps serving and its error lands in `ws.errors`.
A fake either implements the frame hooks (`admit` the handshake, `greet`, `read` a client's frame,
`on_frame`: every frame is recorded in `received`) or its whole `_session(ws)` per connection.
`SocketPlatform` adds a JSON Web API over HTTP beside the websocket (Slack, Discord); the others
combine with their HTTP fake (listed after this class, so `start` and `stop` reach it too).
"""
from __future__ import annotations

import json
import socket
import threading
import time
from typing import Any, Callable

from urllib.parse import parse_qsl, urlsplit

from websockets.exceptions import ConnectionClosed
from websockets.sync.server import ServerConnection, serve

from .httpserver import LoopbackServer, QuietHandler


class WebsocketLoopback:
    """The server: `session(ws)` runs on its own thread for each connection `admit(ws)` keeps."""

    def __init__(self, session: Callable[[ServerConnection], None],
                 admit: Callable[[ServerConnection], bool] = lambda ws: True) -> None:
        self._session, self._admit = session, admit
        self.cv = threading.Condition()
        self.open: list[ServerConnection] = []
        self.numbers: dict[ServerConnection, int] = {}     # each connection's place among all opened
        self.opened = 0
        self.most_at_once = 0
        self.errors: list[str] = []
        self._server = serve(self._handle, "127.0.0.1", 0, ping_interval=None, max_size=2**22, compression=None)
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def start(self) -> "WebsocketLoopback":
        self._thread.start()
        return self

    def stop(self) -> None:
        self.drop_all()
        self._server.shutdown()
        self._thread.join(5)

    def drop_all(self) -> None:
        with self.cv:
            connections = list(self.open)
        for ws in connections:
            try:
                ws.socket.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    def wait(self, predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
        deadline = time.monotonic() + timeout
        with self.cv:
            while not predicate():
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self.cv.wait(min(remaining, 0.2))
            return True

    def _handle(self, ws: ServerConnection) -> None:
        if not self._admit(ws):
            ws.close(4003, "refused")
            return
        with self.cv:
            self.open.append(ws)
            self.opened += 1
            self.numbers[ws] = self.opened
            self.most_at_once = max(self.most_at_once, len(self.open))
            self.cv.notify_all()
        try:
            self._session(ws)
        except (ConnectionClosed, OSError):
            pass                # the client went away: the session's business ends there
        except Exception as exc:            # a fake that fails keeps serving; the test reads `errors`
            self.errors.append(f"{type(exc).__name__}: {exc}")
        finally:
            with self.cv:
                self.open.remove(ws)
                self.cv.notify_all()


def query(ws: ServerConnection) -> dict[str, Any]:
    """The connection's query parameters (last value of each)."""
    return dict(parse_qsl(urlsplit(ws.request.path).query)) if ws.request else {}


class WebsocketPlatform:
    """A fake platform's websocket: what the tests call, and the hooks a fake implements."""

    def __init__(self) -> None:
        self.ws = WebsocketLoopback(self._session, self.admit)
        self._ws_cv = self.ws.cv
        self.received: list[tuple[int, Any]] = []       # (connection number, frame as the fake read it)

    # -- what tests call --------------------------------------------------------------------
    @property
    def connections(self) -> list[ServerConnection]:
        return self.ws.open

    @property
    def opened(self) -> int:
        return self.ws.opened

    @property
    def most_at_once(self) -> int:
        return self.ws.most_at_once

    @property
    def ws_url(self) -> str:
        return f"{self.ws.url}/ws"

    def start(self):
        """Serve the websocket, and the platform's HTTP side too when the fake has one."""
        self.ws.start()
        http = getattr(super(), "start", None)
        if http is not None:
            http()
        return self

    def stop(self) -> None:
        self.ws.stop()
        http = getattr(super(), "stop", None)
        if http is not None:
            http()

    def drop(self) -> None:
        """Cut every connection as a network failure would (no close handshake)."""
        self.ws.drop_all()

    def push(self, data: str | bytes) -> None:
        """Send a frame to the newest client; waits until one is connected."""
        assert self.wait(lambda: self.connections, 10), "no client connected"
        with self._ws_cv:
            conn = self.connections[-1]
        conn.send(data)

    def frames(self, kind: Callable[[Any], bool] = lambda f: True) -> list[Any]:
        with self._ws_cv:
            return [frame for _, frame in self.received if kind(frame)]

    def wait(self, predicate: Callable[[], Any], timeout: float = 10.0) -> bool:
        return self.ws.wait(predicate, timeout)

    def wait_connections(self, count: int, timeout: float = 10.0) -> bool:
        """Until `count` connections were opened in all and one is open now."""
        return self.wait(lambda: self.opened >= count and self.connections, timeout)

    def assert_one_at_a_time(self) -> None:
        assert self.most_at_once <= 1, f"{self.most_at_once} connections were open at the same time"

    # -- for subclasses ---------------------------------------------------------------------
    def admit(self, conn: ServerConnection) -> bool:
        """Whether to keep a new connection (the handshake's query is in conn.request.path)."""
        return True

    def greet(self, conn: ServerConnection) -> None:
        """Anything the platform sends first."""

    def read(self, data: str | bytes) -> Any:
        """A client's frame as the tests see it (JSON decoded, protobuf parsed)."""
        return data

    def on_frame(self, conn: ServerConnection, frame: Any) -> None:
        """React to a client's frame (reply to heartbeats, ...)."""

    def _session(self, conn: ServerConnection) -> None:
        """One connection: greet, then record each frame and react to it."""
        number = self.ws.numbers[conn]
        self.greet(conn)
        for data in conn:
            frame = self.read(data)
            with self._ws_cv:
                self.received.append((number, frame))
                self._ws_cv.notify_all()
            self.on_frame(conn, frame)

    @staticmethod
    def _send(ws: ServerConnection, frame: str | dict[str, Any]) -> None:
        """Send, or nothing when the connection went away (the platform then delivers it later)."""
        try:
            ws.send(frame if isinstance(frame, str) else json.dumps(frame))
        except Exception:
            pass


class _ApiHandler(QuietHandler):
    """JSON in, JSON out: each request goes to the owner's `_api(method, path, authorization, data)`."""

    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self.read_body())

    def _answer(self, body: bytes) -> None:
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None         # slack_sdk posts apps.connections.open form-encoded, with nothing in it
        owner: SocketPlatform = self.server.owner  # type: ignore[attr-defined]
        status, answer = owner._api(self.command, self.path, self.headers.get("Authorization", ""), data)
        self.send(status, json.dumps(answer).encode())


class SocketPlatform(WebsocketPlatform):
    """A fake platform whose Web API is JSON over HTTP (`_api`) and whose websocket protocol is a
    whole `_session(ws)` per connection. Replies the bot posts are kept in `replies`, in arrival order."""

    def __init__(self) -> None:
        super().__init__()
        self.http = LoopbackServer(_ApiHandler)
        self.http.httpd.owner = self  # type: ignore[attr-defined]
        self._cv = threading.Condition()
        self.replies: list[dict[str, Any]] = []
        self.reply_times: list[float] = []        # when each reply arrived (time.time())

    def start(self) -> "SocketPlatform":
        self.http.start()
        return super().start()

    def stop(self) -> None:
        super().stop()
        self.http.stop()

    def wait_replies(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self._cv:
            self._cv.wait_for(lambda: len(self.replies) >= count, timeout)
            return list(self.replies)

    def wait_for(self, condition: Callable[[], bool], timeout: float = 10.0) -> bool:
        with self._cv:
            return self._cv.wait_for(condition, timeout)

    def _reply(self, reply: dict[str, Any]) -> None:
        with self._cv:
            self.replies.append(reply)
            self.reply_times.append(time.time())
            self._cv.notify_all()

    def _api(self, method: str, path: str, authorization: str, data: Any) -> tuple[int, Any]:
        raise NotImplementedError

    def _session(self, ws: ServerConnection) -> None:
        raise NotImplementedError
