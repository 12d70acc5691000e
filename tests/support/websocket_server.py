"""A websocket server on 127.0.0.1 with a free port, for the fake platforms that speak one, and
`SocketPlatform`, the base of such a fake: its Web API on HTTP beside its websocket.

Each connection runs `session(ws)` on its own thread (the `websockets` library's sync server).
The server counts connections open at once and remembers the most it ever saw, so a test can
assert that a channel never had two; `drop_all()` cuts every connection as a network failure
would, without a close frame.
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


class SocketPlatform:
    """A fake platform with both halves: its Web API over HTTP (`_api`) and its websocket
    (`_session(ws)` per connection). Replies the bot posts are kept in `replies`, in arrival order."""

    def __init__(self) -> None:
        self.http = LoopbackServer(_ApiHandler)
        self.http.httpd.owner = self  # type: ignore[attr-defined]
        self.ws = WebsocketLoopback(self._session)
        self._cv = threading.Condition()
        self.replies: list[dict[str, Any]] = []
        self.reply_times: list[float] = []        # when each reply arrived (time.time())

    def start(self) -> "SocketPlatform":
        self.http.start()
        self.ws.start()
        return self

    def stop(self) -> None:
        self.ws.stop()
        self.http.stop()

    def drop(self) -> None:
        """Cut every connection as a network failure would."""
        self.ws.drop_all()

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

    @staticmethod
    def _send(ws: ServerConnection, frame: str | dict[str, Any]) -> None:
        """Send, or nothing when the connection went away (the platform then delivers it later)."""
        try:
            ws.send(frame if isinstance(frame, str) else json.dumps(frame))
        except Exception:
            pass
