"""Slack's Socket Mode on loopback: the Web API calls over HTTP and the websocket itself.

`POST /api/apps.connections.open` (Bearer app token) answers a single-use `ws://` URL with a ticket;
the socket sends `hello`, then each event pushed with `push_event` inside an `events_api` envelope.
An envelope is done when the client answers `{"envelope_id": ...}`; one not acknowledged is sent
again (`retry_attempt` + 1) on the next connection, as Slack retries it. `POST /api/chat.postMessage`
(Bearer bot token) records replies. `disconnect()` sends Slack's `disconnect` frame, `drop()` cuts
the connection without one, `send_raw()` sends any frame (a forged or malformed one).
"""
from __future__ import annotations

import json
import secrets
import time
from typing import Any

from websockets.sync.server import ServerConnection

from .websocket_server import SocketPlatform, query

APP_TOKEN = "xapp-1-A0FAKE-1-fake-app-level-token-for-tests"
BOT_TOKEN = "xoxb-fake-socket-bot-token"
BOT_USER = "U0BOT0001"


class FakeSlackSocket(SocketPlatform):
    def __init__(self) -> None:
        super().__init__()
        self._tickets: set[str] = set()
        self._current: ServerConnection | None = None
        self.pending: dict[str, dict[str, Any]] = {}      # envelope id -> envelope, until acknowledged
        self.acks: list[dict[str, Any]] = []
        self.opens = 0
        self.refused_tickets = 0

    @property
    def api_base(self) -> str:
        return self.http.url + "/api"

    # -- what a test does -----------------------------------------------------------------
    def push_event(self, event: dict[str, Any], event_id: str = "") -> str:
        """Deliver one event callback (as the Events API would POST it) in a new envelope."""
        envelope_id = secrets.token_hex(8)
        payload = {"token": "unused-in-socket-mode", "team_id": "T0FAKE", "api_app_id": "A0FAKE",
                   "type": "event_callback", "event_id": event_id or f"Ev{secrets.token_hex(5).upper()}",
                   "event_time": int(time.time()), "event": event,
                   "authorizations": [{"team_id": "T0FAKE", "user_id": BOT_USER, "is_bot": True}]}
        envelope = {"envelope_id": envelope_id, "type": "events_api", "payload": payload,
                    "accepts_response_payload": False, "retry_attempt": 0, "retry_reason": ""}
        self.push_envelope(envelope)
        return envelope_id

    def push_envelope(self, envelope: dict[str, Any]) -> None:
        with self._cv:
            self.pending[envelope["envelope_id"]] = envelope
            ws = self._current
        if ws is not None:
            self._send(ws, envelope)

    def send_raw(self, frame: str | dict[str, Any]) -> None:
        ws = self.wait_connected()
        self._send(ws, frame)

    def disconnect(self, reason: str = "refresh_requested") -> None:
        self.send_raw({"type": "disconnect", "reason": reason, "debug_info": {"host": "fake"}})

    def wait_connected(self, opens: int = 1, timeout: float = 10.0) -> ServerConnection:
        """The current connection once at least `opens` connections were opened in all."""
        with self._cv:
            if not self._cv.wait_for(lambda: self.opens >= opens and self._current is not None, timeout):
                raise AssertionError(f"no Socket Mode connection number {opens} within {timeout} s")
            return self._current  # type: ignore[return-value]

    def wait_acks(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        with self._cv:
            self._cv.wait_for(lambda: len(self.acks) >= count, timeout)
            return list(self.acks)

    # -- the platform's side ----------------------------------------------------------------
    def _api(self, method: str, path: str, authorization: str, data: Any) -> tuple[int, dict[str, Any]]:
        if path == "/api/apps.connections.open":
            if authorization != f"Bearer {APP_TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}
            ticket = secrets.token_hex(12)
            with self._cv:
                self._tickets.add(ticket)
            return 200, {"ok": True, "url": f"{self.ws.url}/link/?ticket={ticket}&app_id=A0FAKE"}
        if path == "/api/chat.postMessage":
            if authorization != f"Bearer {BOT_TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}
            if not isinstance(data, dict) or not data.get("channel") or not data.get("text"):
                return 200, {"ok": False, "error": "no_text"}
            self._reply(data)
            return 200, {"ok": True, "channel": data["channel"], "ts": f"{time.time():.6f}"}
        return 404, {"ok": False, "error": "unknown_method"}

    def _session(self, ws: ServerConnection) -> None:
        ticket = query(ws).get("ticket", "")
        with self._cv:
            valid = ticket in self._tickets
            self._tickets.discard(ticket)          # single use, as Slack's are
            if not valid:
                self.refused_tickets += 1
        if not valid:
            ws.close(1008, "invalid ticket")
            return
        ws.send(json.dumps({"type": "hello", "num_connections": 1, "debug_info": {"host": "fake"},
                            "connection_info": {"app_id": "A0FAKE"}}))
        with self._cv:
            retries = list(self.pending.values())
            self._current = ws
            self.opens += 1
            self._cv.notify_all()
        for envelope in retries:
            envelope["retry_attempt"] += 1
            envelope["retry_reason"] = "timeout"
            self._send(ws, envelope)
        try:
            for text in ws:
                self._answer(text)
        finally:
            with self._cv:
                if self._current is ws:
                    self._current = None

    def _answer(self, text: str | bytes) -> None:
        frame = json.loads(text)
        with self._cv:
            envelope = self.pending.pop(frame.get("envelope_id"), None)
            self.acks.append({"frame": frame, "known": envelope is not None, "at": time.time()})
            self._cv.notify_all()
