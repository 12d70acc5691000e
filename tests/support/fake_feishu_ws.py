"""A fake Feishu speaking the long connection: `POST /callback/ws/endpoint` checks AppID/AppSecret and
answers a one-time websocket URL (device_id, service_id) with a ClientConfig; the websocket reads and
writes pbbp2 frames with lark-oapi's own generated protobuf class (so our hand-written codec is
checked against Feishu's on every frame), answers pings with pongs, pushes events (split into
`sum` parts on request) and records the answers. Sends go to FakeFeishu's open API, as on the
webhook path."""
from __future__ import annotations

import itertools
import json
import secrets
from typing import Any
from urllib.parse import parse_qs, urlsplit

from .fake_open_platforms import FakeFeishu
from .websocket_server import WebsocketPlatform

ENDPOINT_PATH = "/callback/ws/endpoint"
SERVICE_ID = 77


def lark_frame(**fields: Any):
    """A frame built with lark-oapi's class: headers as a dict, the rest as its field names."""
    from lark_oapi.ws.pb.pbbp2_pb2 import Frame

    frame = Frame()
    for key, value in fields.pop("headers", {}).items():
        header = frame.headers.add()
        header.key, header.value = key, str(value)
    for name, value in fields.items():
        if value not in ("", b""):      # an optional field set to empty would be sent as present
            setattr(frame, name, value)
    return frame


class FakeFeishuWs(WebsocketPlatform, FakeFeishu):
    def __init__(self, app_id: str, app_secret: str, ping_interval: int = 120, **kw: Any) -> None:
        FakeFeishu.__init__(self, app_id, app_secret, **kw)
        WebsocketPlatform.__init__(self)
        self.ping_interval = ping_interval
        self._devices: set[str] = set()
        self._seq = itertools.count(1)
        self.redeliver = False           # True: events not answered are pushed again on the next connection
        self._unanswered: dict[str, list[bytes]] = {}

    # -- what tests call --------------------------------------------------------------------
    def event(self, event: dict[str, Any] | bytes, message_id: str = "", parts: int = 1) -> str:
        """Push an event (a data frame of type event, in `parts` fragments); the frame's message_id."""
        message_id = message_id or f"ws-msg-{next(self._seq)}"
        payload = event if isinstance(event, bytes) else json.dumps(event, ensure_ascii=False).encode()
        size = -(-len(payload) // parts)
        frames = [lark_frame(SeqID=next(self._seq), LogID=7, service=SERVICE_ID, method=1,
                             headers={"type": "event", "message_id": message_id, "sum": parts, "seq": seq,
                                      "trace_id": secrets.token_hex(4)},
                             payload=payload[seq * size:(seq + 1) * size]).SerializeToString() for seq in range(parts)]
        with self._ws_cv:
            self._unanswered[message_id] = frames
        for frame in frames:
            self.push(frame)
        return message_id

    def answers(self, message_id: str) -> list[dict[str, Any]]:
        return self.frames(lambda f: f["method"] == 1 and f["headers"].get("message_id") == message_id)

    def wait_answer(self, message_id: str, timeout: float = 10.0) -> dict[str, Any]:
        assert self.wait(lambda: self.answers(message_id), timeout), f"no answer to {message_id}"
        return self.answers(message_id)[0]

    def pings(self) -> list[dict[str, Any]]:
        return self.frames(lambda f: f["method"] == 0 and f["headers"].get("type") == "ping")

    # -- the platform side ------------------------------------------------------------------
    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:     # HTTP; FakeFeishu's open API besides
        if req["path"] != ENDPOINT_PATH:
            return super().answer(req)
        body = req["json"] or {}
        if body.get("AppID") != self.app_id or body.get("AppSecret") != self.app_secret:
            return 200, {"code": 514, "msg": "app_id or app_secret is invalid"}
        device = secrets.token_hex(6)
        with self._ws_cv:
            self._devices.add(device)
        return 200, {"code": 0, "msg": "ok", "data": {
            "URL": f"{self.ws_url}?device_id={device}&service_id={SERVICE_ID}",
            "ClientConfig": {"ReconnectCount": -1, "ReconnectInterval": 120, "ReconnectNonce": 30,
                             "PingInterval": self.ping_interval}}}

    def admit(self, conn) -> bool:
        device = parse_qs(urlsplit(conn.request.path).query).get("device_id", [""])[0]
        with self._ws_cv:
            if device not in self._devices:
                return False
            self._devices.discard(device)
            return True

    def read(self, data: str | bytes) -> Any:
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        frame = Frame()
        frame.ParseFromString(data)
        return {"method": frame.method, "service": frame.service, "seq_id": frame.SeqID,
                "headers": {h.key: h.value for h in frame.headers}, "payload": frame.payload}

    def greet(self, conn) -> None:
        """Feishu pushes again what was not answered (when `redeliver` is on)."""
        with self._ws_cv:
            again = [f for frames in self._unanswered.values() for f in frames] if self.redeliver else []
        for frame in again:
            conn.send(frame)

    def on_frame(self, conn, frame: Any) -> None:
        if frame["method"] == 1 and json.loads(frame["payload"] or b"{}").get("code") == 200:
            with self._ws_cv:
                self._unanswered.pop(frame["headers"].get("message_id"), None)
        if frame["method"] == 0 and frame["headers"].get("type") == "ping":
            assert frame["service"] == SERVICE_ID, "a ping must name the service id from the URL"
            conn.send(lark_frame(SeqID=0, LogID=0, service=SERVICE_ID, method=0, headers={"type": "pong"},
                                 payload=json.dumps({"PingInterval": self.ping_interval}).encode()
                                 ).SerializeToString())
