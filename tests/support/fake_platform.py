"""A fake platform endpoint that receives our replies (the generic channel's callback URL).

It records every POST (headers and JSON) and can be told to fail the next requests, or to be
down (an answer such as 503 or 429, optionally after a stall that outlasts the client's timeout)
until `recover()`. `log` keeps every attempt, failed ones too, in arrival order. A body that is not
JSON (a request cut short when the sender was killed) gets 400, as a real platform would answer.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from .httpserver import LoopbackServer, QuietHandler


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802
        platform: FakePlatform = self.server.owner  # type: ignore[attr-defined]
        body = self.read_body()
        status, headers, stall = platform._record(self.path, dict(self.headers), body)
        if stall:
            time.sleep(stall)
        try:
            self.send(status, b'{"ok": true}' if status < 300 else b'{"ok": false}', headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass            # the sender gave up waiting (a stall longer than its timeout)


class FakePlatform(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.received: list[dict[str, Any]] = []
        self.attempts = 0
        self._failures: list[tuple[int, dict[str, str]]] = []
        self._outage: tuple[int, dict[str, str], float] | None = None
        self.log: list[dict[str, Any]] = []
        self._cv = threading.Condition()

    @property
    def hook_url(self) -> str:
        return self.url + "/hook"

    def fail_next(self, count: int, status: int = 500, headers: dict[str, str] | None = None) -> None:
        with self._cv:
            self._failures.extend([(status, headers or {})] * count)

    def outage(self, status: int = 503, headers: dict[str, str] | None = None, stall: float = 0.0) -> None:
        """Answer every request with `status` (after `stall` seconds) until recover()."""
        with self._cv:
            self._outage = (status, headers or {}, stall)

    def recover(self) -> None:
        with self._cv:
            self._outage = None

    def _record(self, path: str, headers: dict[str, str], body: bytes) -> tuple[int, dict[str, str], float]:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        with self._cv:
            self.attempts += 1
            failure = self._outage or (self._failures.pop(0) + (0.0,) if self._failures else None)
            if failure is None and data is None:    # cut short (the sender died mid-request): refused
                failure = (400, {}, 0.0)
            self.log.append({"json": data, "at": time.time(), "status": failure[0] if failure else 200})
            if failure is not None:
                return failure
            self.received.append({"path": path, "headers": headers, "body": body, "json": data,
                                  "at": time.time()})
            self._cv.notify_all()
            return 200, {}, 0.0

    def wait_for(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` replies arrived; returns all received so far."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.received) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cv.wait(remaining)
            return list(self.received)

    def texts(self) -> list[str]:
        with self._cv:
            return [r["json"]["text"] for r in self.received if r["json"]]

    def replies_to(self, event_id: str) -> list[dict[str, Any]]:
        with self._cv:
            return [r for r in self.received if r["json"] and r["json"].get("reply_to") == event_id]
