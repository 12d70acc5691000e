"""DingTalk Stream mode: the robot's messages over a websocket SmartBot opens, no public URL needed.

`POST {api_base}/v1.0/gateway/connections/open` with the app's clientId/clientSecret and one
subscription (CALLBACK, the robot message topic) answers an endpoint and a one-time ticket; the
socket is `endpoint?ticket=...`. Frames are JSON: {specVersion, type, headers: {messageId, topic,
...}, data: "<JSON text>"}. SYSTEM `ping` frames are answered with their own data, SYSTEM
`disconnect` asks for a new connection. A CALLBACK frame's data is the same JSON the HTTP callback
carries, parsed by the DingTalk channel, stored, and only then acknowledged: {code: 200, headers:
{messageId, contentType}, message, data}. A stored message that comes again (DingTalk resends what was
not acknowledged) is dropped by the inbox's unique key on msgId, as on the webhook path.
A second subscription, the card callback topic, brings presses of the approval card's buttons:
parsed by the channel's `parse_press`, keyed on the frame's messageId (kept by DingTalk's resends),
stored, then acknowledged with an empty card response (the worker updates the card itself).
"""
from __future__ import annotations

import json
import logging
from typing import Any
from urllib.parse import quote_plus

from ...errors import PayloadError
from ..base import Headers, WebRequest
from ..dingtalk import DingTalkChannel
from ..support.dingtalk_cards import CARD_TOPIC
from .base import Link
from .websocket import PLAIN, Socket, SocketClosed, discover
from .wsloop import MALFORMED, WebsocketConnector

log = logging.getLogger(__name__)

OPEN_PATH = "/v1.0/gateway/connections/open"
BOT_TOPIC = "/v1.0/im/bot/messages/get"
OK, BAD_REQUEST = 200, 400


class DingTalkStream(WebsocketConnector):
    channel: DingTalkChannel
    what = "DingTalk Stream"
    socket_options = PLAIN

    def address(self, link: Link) -> str:
        endpoint, ticket = self._open_connection()
        return f"{endpoint}?ticket={quote_plus(ticket)}"

    def _open_connection(self) -> tuple[str, str]:
        config = self.channel.config
        data = discover(self._http, config.api_base.rstrip("/") + OPEN_PATH,
                        {"clientId": config.app_key, "clientSecret": config.app_secret,
                         "subscriptions": [{"type": "CALLBACK", "topic": BOT_TOPIC},
                                           {"type": "CALLBACK", "topic": CARD_TOPIC}],
                         "ua": "smartbot"},
                        timeout=(config.connect_timeout, config.read_timeout), what="DingTalk's connections/open",
                        headers={"Accept": "application/json"})
        endpoint, ticket = data.get("endpoint"), data.get("ticket")
        if not isinstance(endpoint, str) or not endpoint or not isinstance(ticket, str) or not ticket:
            raise SocketClosed("DingTalk's connections/open answered without an endpoint and a ticket: check "
                                 "channels.dingtalk.app_key / app_secret and that the robot uses Stream mode")
        return endpoint, ticket

    def handle(self, raw: str | bytes, socket: Socket, link: Link) -> None:
        frame = _frame(raw)
        if frame is None:
            link.refuse(MALFORMED, {"reason": "a frame that is not a JSON object with headers"})
            return
        kind, headers = frame.get("type"), frame["headers"]
        message_id = str(headers.get("messageId") or "")
        if kind == "SYSTEM":
            socket.send(_ack(message_id, OK, "OK", frame.get("data") or ""))
            if headers.get("topic") == "disconnect":
                raise SocketClosed("DingTalk asked for a new connection (disconnect)")
        elif kind == "CALLBACK" and headers.get("topic") == BOT_TOPIC:
            if not message_id:
                link.refuse(MALFORMED, {"reason": "a callback frame without headers.messageId"})
                return
            self._callback(frame.get("data"), message_id, socket, link)
        elif kind == "CALLBACK" and headers.get("topic") == CARD_TOPIC and message_id:
            self._press(frame.get("data"), message_id, socket, link)
        else:
            log.debug("dingtalk stream: ignored a %s frame on topic %s", str(kind)[:20], str(headers.get("topic"))[:80])

    def _callback(self, data: Any, message_id: str, socket: Socket, link: Link) -> None:
        """Parse, store, then acknowledge; a callback that can never parse is acknowledged as refused,
        so DingTalk stops sending it. StorageUnavailable passes up: no ack, the connection drops."""
        try:
            if not isinstance(data, str):
                raise PayloadError("data must be JSON text")
            messages = self.channel.parse(WebRequest("POST", BOT_TOPIC, Headers(), data.encode("utf-8")))
        except PayloadError as exc:
            link.refuse(MALFORMED, {"reason": f"a robot callback that does not parse: {exc.reason}"})
            socket.send(_ack(message_id, BAD_REQUEST, exc.reason[:200], json.dumps({"response": None})))
            return
        if messages:
            link.store(messages)
        socket.send(_ack(message_id, OK, "OK", json.dumps({"response": None})))


    def _press(self, data: Any, message_id: str, socket: Socket, link: Link) -> None:
        """A card callback: stored when it presses one of our buttons, acknowledged either way."""
        try:
            parsed = json.loads(data) if isinstance(data, str) else None
        except (ValueError, RecursionError):
            parsed = None
        if not isinstance(parsed, dict):
            link.refuse(MALFORMED, {"reason": "a card callback whose data is not a JSON object"})
            socket.send(_ack(message_id, BAD_REQUEST, "data must be a JSON object", json.dumps({"response": None})))
            return
        presses = self.channel.parse_press(parsed, message_id)
        if presses:
            link.store(presses)
        socket.send(_ack(message_id, OK, "OK", json.dumps({"response": {}})))


def _frame(raw: str | bytes) -> dict[str, Any] | None:
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("headers"), dict):
        return None
    return frame


def _ack(message_id: str, code: int, message: str, data: str) -> str:
    return json.dumps({"code": code, "headers": {"messageId": message_id, "contentType": "application/json"},
                       "message": message, "data": data}, ensure_ascii=False)
