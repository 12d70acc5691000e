"""A fake DingTalk speaking Stream mode: `POST /v1.0/gateway/connections/open` checks the client id
and secret and hands out a one-time ticket; the websocket at the endpoint admits only that ticket,
pushes SYSTEM and CALLBACK frames as DingTalk does, and records the acks. The open API (token,
session webhook, robot sends) is FakeDingTalk's, so replies land in `delivered` as on the webhook path.
"""
from __future__ import annotations

import itertools
import json
import secrets
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .fake_open_platforms import FakeDingTalk
from .websocket_server import WebsocketPlatform

OPEN_PATH = "/v1.0/gateway/connections/open"
BOT_TOPIC = "/v1.0/im/bot/messages/get"


class FakeDingTalkStream(WebsocketPlatform, FakeDingTalk):
    def __init__(self, app_key: str, app_secret: str, **kw: Any) -> None:
        FakeDingTalk.__init__(self, app_key, app_secret, **kw)
        WebsocketPlatform.__init__(self)
        self._tickets: set[str] = set()
        self._ids = itertools.count(1)
        self.redeliver = False           # True: unacknowledged callbacks come again on the next connection
        self._unacked: dict[str, str] = {}

    # -- what tests call --------------------------------------------------------------------
    def callback(self, data: dict[str, Any] | str, message_id: str = "") -> str:
        """Push a robot message callback (data as the HTTP callback's body); its messageId."""
        message_id = message_id or f"stream-msg-{next(self._ids)}"
        frame = json.dumps({
            "specVersion": "1.0", "type": "CALLBACK",
            "headers": {"appId": "app-1", "connectionId": "conn-1", "contentType": "application/json",
                        "messageId": message_id, "time": str(int(time.time() * 1000)), "topic": BOT_TOPIC},
            "data": data if isinstance(data, str) else json.dumps(data, ensure_ascii=False)})
        with self._ws_cv:
            self._unacked[message_id] = frame
        self.push(frame)
        return message_id

    def system(self, topic: str, data: str = '{"opaque":"x"}') -> str:
        message_id = f"sys-{next(self._ids)}"
        self.push(json.dumps({"specVersion": "1.0", "type": "SYSTEM",
                              "headers": {"contentType": "application/json", "messageId": message_id,
                                          "time": str(int(time.time() * 1000)), "topic": topic},
                              "data": data}))
        return message_id

    def acks(self, message_id: str) -> list[dict[str, Any]]:
        return self.frames(lambda f: isinstance(f, dict) and f.get("headers", {}).get("messageId") == message_id)

    def wait_ack(self, message_id: str, timeout: float = 10.0) -> dict[str, Any]:
        assert self.wait(lambda: self.acks(message_id), timeout), f"no ack for {message_id}"
        return self.acks(message_id)[0]

    # -- the platform side ------------------------------------------------------------------
    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:     # HTTP (FakeDingTalk's routes besides)
        if req["path"] != OPEN_PATH:
            return super().answer(req)
        body = req["json"] or {}
        if body.get("clientId") != self.app_key or body.get("clientSecret") != self.app_secret:
            return 401, {"code": "InvalidAuthentication", "message": "clientId or clientSecret is wrong"}
        topics = [(s.get("type"), s.get("topic")) for s in body.get("subscriptions") or []]
        if ("CALLBACK", BOT_TOPIC) not in topics:
            return 400, {"code": "InvalidParameter", "message": "no subscriptions"}
        ticket = secrets.token_hex(8)
        with self._cv:
            self._tickets.add(ticket)
        return 200, {"endpoint": self.ws_url, "ticket": ticket}

    def admit(self, conn) -> bool:       # websocket handshake: each ticket opens one connection
        ticket = parse_qs(urlsplit(conn.request.path).query).get("ticket", [""])[0]
        with self._cv:
            if ticket not in self._tickets:
                return False
            self._tickets.discard(ticket)
            return True

    def read(self, data: str | bytes) -> Any:
        return json.loads(data)

    def on_frame(self, conn, frame: Any) -> None:
        if isinstance(frame, dict) and frame.get("code") == 200:
            with self._ws_cv:
                self._unacked.pop(frame.get("headers", {}).get("messageId"), None)

    def greet(self, conn) -> None:
        """DingTalk sends again what was not acknowledged (when `redeliver` is on)."""
        with self._ws_cv:
            again = list(self._unacked.values()) if self.redeliver else []
        for frame in again:
            conn.send(frame)
