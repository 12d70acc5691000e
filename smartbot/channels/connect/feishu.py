"""Feishu/Lark long connection: events over a websocket SmartBot opens, no public URL needed.

`POST {api_base}/callback/ws/endpoint` with {AppID, AppSecret} answers {code, msg, data: {URL,
ClientConfig}}; the URL's query carries the service_id that every ping names. Frames are protobuf
("pbbp2", see pbbp2.py): control frames (method 0) are our pings and Feishu's pongs (a pong may carry
a new ClientConfig with the ping interval); data frames (method 1) carry headers type (event, card),
message_id, sum and seq (an event too large for one frame comes in `sum` parts), trace_id, and the
event JSON as payload: the same schema 2.0 event as the webhook's, unencrypted (the socket is
authenticated). An event is parsed by the Feishu channel, stored, and only then answered by sending
the frame back with the payload {"code": 200} (and a biz_rt header), as Feishu's SDK does; an event
Feishu gets no answer for is pushed again, and the inbox's unique key on message_id drops the copy.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ...errors import PayloadError
from ..base import Headers, WebRequest
from ..feishu import FeishuChannel
from .base import Link
from .pbbp2 import CONTROL, DATA, Frame, FrameError
from .websocket import PLAIN, Socket, SocketClosed, discover
from .wsloop import MALFORMED, WebsocketConnector

log = logging.getLogger(__name__)

ENDPOINT_PATH = "/callback/ws/endpoint"
DEFAULT_PING_INTERVAL = 120.0
MIN_PING_INTERVAL = 5.0
FRAGMENT_TTL = 30.0
MAX_PENDING_FRAGMENTS = 64
OK, BAD_REQUEST = 200, 400


class FeishuLongConnection(WebsocketConnector):
    channel: FeishuChannel
    what = "Feishu's long connection"
    socket_options = PLAIN

    def __init__(self, channel: FeishuChannel) -> None:
        super().__init__(channel)
        self._ping_interval = DEFAULT_PING_INTERVAL
        self._fragments: dict[str, tuple[float, list[bytes | None]]] = {}
        self._service_id, self._next_ping = 0, 0.0

    def address(self, link: Link) -> str:
        url = self._endpoint()
        try:
            self._service_id = int(parse_qs(urlsplit(url).query).get("service_id", [""])[0])
        except ValueError:
            raise SocketClosed("Feishu's endpoint URL has no numeric service_id") from None
        self._fragments.clear()
        self._next_ping = 0.0
        return url

    def beat(self, socket: Socket) -> None:
        if time.monotonic() >= self._next_ping:
            socket.send(Frame(service=self._service_id, method=CONTROL, headers=[("type", "ping")]).encode())
            self._next_ping = time.monotonic() + self._ping_interval

    def _endpoint(self) -> str:
        config = self.channel.config
        data = discover(self._http, config.api_base.rstrip("/") + ENDPOINT_PATH,
                        {"AppID": config.app_id, "AppSecret": config.app_secret},
                        timeout=(config.connect_timeout, config.read_timeout), what="Feishu's ws endpoint",
                        headers={"locale": "zh"})
        if data.get("code") != 0:
            raise SocketClosed(f"Feishu refused the long connection (code {data.get('code')}: "
                                 f"{str(data.get('msg') or '')[:200]}); check channels.feishu.app_id / app_secret "
                                 "and that the app subscribes to events by long connection")
        body = data.get("data") if isinstance(data.get("data"), dict) else {}
        url = body.get("URL")
        if not isinstance(url, str) or not url:
            raise SocketClosed("Feishu's ws endpoint answered without a URL")
        self._configure(body.get("ClientConfig"))
        return url

    def _configure(self, config: Any) -> None:
        """Feishu's ClientConfig (from the endpoint, or a pong): only the ping interval is used; the
        reconnect pacing is the gateway's."""
        if isinstance(config, dict) and isinstance(config.get("PingInterval"), (int, float)):
            self._ping_interval = max(MIN_PING_INTERVAL, float(config["PingInterval"]))

    def handle(self, raw: str | bytes, socket: Socket, link: Link) -> None:
        try:
            if not isinstance(raw, bytes):
                raise FrameError("a text frame where Feishu sends binary ones")
            frame = Frame.decode(raw)
        except FrameError as exc:
            link.refuse(MALFORMED, {"reason": f"a frame that is not pbbp2: {exc}"})
            return
        kind = frame.header("type")
        if frame.method == CONTROL:
            if kind == "pong" and frame.payload:
                try:
                    self._configure(json.loads(frame.payload))
                except ValueError:
                    log.debug("feishu long connection: a pong with a payload that is not JSON")
        elif frame.method == DATA and kind == "event":
            try:
                payload = self._combine(frame)
            except PayloadError as exc:
                link.refuse(MALFORMED, {"reason": exc.reason})
                return
            if payload is not None:
                self._event(frame, payload, socket, link)
        else:
            log.debug("feishu long connection: ignored a frame (method %s, type %s)", frame.method, kind[:20])

    def _combine(self, frame: Frame) -> bytes | None:
        """The whole payload once every part of a split event is here; None until then."""
        try:
            total, seq = int(frame.header("sum") or 1), int(frame.header("seq") or 0)
        except ValueError:
            total, seq = 0, -1
        if total <= 1:
            return frame.payload
        if not 0 <= seq < total <= MAX_PENDING_FRAGMENTS:
            raise PayloadError(f"an impossible fragment ({seq} of {total})")
        now = time.monotonic()
        for key in [k for k, (at, _) in self._fragments.items() if now - at > FRAGMENT_TTL]:
            del self._fragments[key]
        message_id = frame.header("message_id")
        started, parts = self._fragments.get(message_id) or (now, [None] * total)
        if len(parts) != total:
            parts = [None] * total
        parts[seq] = frame.payload
        if any(part is None for part in parts):
            if len(self._fragments) >= MAX_PENDING_FRAGMENTS and message_id not in self._fragments:
                self._fragments.pop(next(iter(self._fragments)))
            self._fragments[message_id] = (started, parts)
            return None
        self._fragments.pop(message_id, None)
        return b"".join(part or b"" for part in parts)

    def _event(self, frame: Frame, payload: bytes, socket: Socket, link: Link) -> None:
        """Parse, store, then answer; an event that can never parse is answered as refused, so it
        is not pushed again. StorageUnavailable passes up: no answer, the connection drops."""
        started = time.monotonic()
        try:
            messages = self.channel.parse(WebRequest("POST", ENDPOINT_PATH, Headers(), payload,
                                                     decoded=self._event_json(payload)))
        except PayloadError as exc:
            link.refuse(MALFORMED, {"reason": f"an event that does not parse: {exc.reason}"})
            self._answer(frame, BAD_REQUEST, started, socket)
            return
        if messages:
            link.store(messages)
        self._answer(frame, OK, started, socket)

    def _event_json(self, payload: bytes) -> dict[str, Any]:
        try:
            event = json.loads(payload)
        except (ValueError, RecursionError):
            raise PayloadError("the event is not JSON") from None
        if not isinstance(event, dict):
            raise PayloadError("the event is not a JSON object")
        header = event.get("header")
        app_id = header.get("app_id") if isinstance(header, dict) else None
        if app_id and app_id != self.channel.config.app_id:
            raise PayloadError("the event is for another app than channels.feishu.app_id")
        return event

    @staticmethod
    def _answer(frame: Frame, code: int, started: float, socket: Socket) -> None:
        elapsed_ms = int((time.monotonic() - started) * 1000)
        frame.headers.append(("biz_rt", str(elapsed_ms)))
        frame.payload = json.dumps({"code": code}).encode()
        socket.send(frame.encode())
