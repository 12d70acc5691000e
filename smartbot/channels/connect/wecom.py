"""WeCom AI bot (智能机器人) long connection: the bot's messages over a websocket SmartBot opens.

There is no discovery call: the socket is `aibot_url` (wss://openws.work.weixin.qq.com). Frames are
JSON {cmd, headers: {req_id}, body}; WeCom answers each command with {headers: {req_id}, errcode,
errmsg} under the same req_id. First `aibot_subscribe` with the bot id and secret (refused: errcode
!= 0), then a `ping` every HEARTBEAT seconds (two unanswered in a row: the connection is dead).
WeCom sends `aibot_msg_callback` (a message: parsed by the WeCom channel's `parse_aibot`, stored)
and `aibot_event_callback` (a press of an approval card's button, `template_card_event`, is parsed
by `parse_aibot_event` and stored like a message; enter_chat and the like are ignored;
`disconnected_event` means another connection for the same bot took over, so this one ends). A
message callback is not acknowledged in this protocol: storing it is all that happens before the
next frame is read.

Replies go over this socket too (WeCom's AI bot has no send API reachable without it), so the
connector lends the channel a sender while it is connected (`hold_aibot_socket`): the worker's
`send` in this process hands a command to it and waits for WeCom's answer to its req_id. A worker
in another process (a Celery worker, say) finds no sender: it leaves the reply in the outbox for
this process to send (pipeline/connection_replies.py). A reply's file is uploaded over it as well,
in chunks answered like any command (channels/support/wecom_aibot_media.py).
"""
from __future__ import annotations

import json
import logging
import threading
import time
from typing import Any, Iterator

from ...errors import DeliveryError, PayloadError
from ..wecom import WeComChannel, hold_aibot_socket, new_req_id, release_aibot_socket
from .base import Link
from .websocket import PLAIN, Socket, SocketClosed
from .wsloop import MALFORMED, WebsocketConnector

log = logging.getLogger(__name__)

HEARTBEAT = 30.0
MISSED_PINGS = 2
ANSWER_TIMEOUT = 10.0


class WeComLongConnection(WebsocketConnector):
    channel: WeComChannel
    what = "WeCom's AI bot connection"
    socket_options = PLAIN
    heartbeat = HEARTBEAT

    def __init__(self, channel: WeComChannel) -> None:
        super().__init__(channel)
        self._write = threading.Lock()
        self._waiting: dict[str, tuple[threading.Event, list[dict[str, Any]]]] = {}
        self._waiting_lock = threading.Lock()
        self._sender = self.request         # one object, so that release finds what hold registered
        self._next_ping, self._unanswered = 0.0, 0

    @property
    def tick(self) -> float:       # type: ignore[override]
        return min(1.0, self.heartbeat)

    def address(self, link: Link) -> str:
        return self.channel.config.aibot_url

    def greet(self, socket: Socket, frames: Iterator[str | bytes | None], link: Link) -> None:
        """Subscribe; refused: SocketClosed naming the settings. Then replies may use the socket."""
        config = self.channel.config
        req_id = new_req_id("aibot_subscribe")
        self._send({"cmd": "aibot_subscribe", "headers": {"req_id": req_id},
                    "body": {"bot_id": config.bot_id, "secret": config.bot_secret}})
        deadline = time.monotonic() + ANSWER_TIMEOUT
        for raw in frames:
            frame = _frame(raw) if raw is not None else None
            if frame is not None and frame["headers"].get("req_id") == req_id:
                if frame.get("errcode") != 0:
                    raise SocketClosed(f"WeCom refused channels.wecom.bot_id / bot_secret (errcode "
                                         f"{frame.get('errcode')}: {str(frame.get('errmsg') or '')[:120]})")
                break
            if time.monotonic() > deadline or link.stopping():
                raise SocketClosed("WeCom did not answer the subscription")
        self._next_ping, self._unanswered = time.monotonic() + self.heartbeat, 0
        hold_aibot_socket(self.channel.name, self._sender)

    def beat(self, socket: Socket) -> None:
        if time.monotonic() < self._next_ping:
            return
        if self._unanswered >= MISSED_PINGS:
            raise SocketClosed(f"WeCom answered none of the last {MISSED_PINGS} heartbeats")
        self._unanswered += 1
        self._send({"cmd": "ping", "headers": {"req_id": new_req_id("ping")}})
        self._next_ping = time.monotonic() + self.heartbeat

    def ended(self, link: Link) -> None:
        release_aibot_socket(self.channel.name, self._sender)
        self._fail_waiting()

    def request(self, frame: dict[str, Any]) -> dict[str, Any]:
        """Send a command for a worker thread and return WeCom's answer to its req_id. Not sent:
        retryable DeliveryError. Sent but unanswered: not retryable (it may have arrived)."""
        req_id = frame["headers"]["req_id"]
        event, answer = threading.Event(), []
        with self._waiting_lock:
            self._waiting[req_id] = (event, answer)
        try:
            try:
                self._send(frame)
            except SocketClosed as exc:
                raise DeliveryError(f"WeCom's AI bot connection is down ({exc})", retryable=True) from None
            if not event.wait(ANSWER_TIMEOUT) or not answer:
                raise DeliveryError("WeCom did not confirm the AI bot's message; it may or may not have arrived",
                                    retryable=False)
            return answer[0]
        finally:
            with self._waiting_lock:
                self._waiting.pop(req_id, None)

    def _send(self, frame: dict[str, Any]) -> None:
        if self._socket is None:
            raise SocketClosed("not connected")
        with self._write:
            self._socket.send(json.dumps(frame, ensure_ascii=False))

    def handle(self, raw: str | bytes, socket: Socket, link: Link) -> None:
        frame = _frame(raw)
        if frame is None:
            link.refuse(MALFORMED, {"reason": "a frame that is not a JSON object with headers.req_id"})
        elif frame.get("cmd"):
            self._command(frame, link)
        else:
            self._answer(frame)

    def _command(self, frame: dict[str, Any], link: Link) -> None:
        """A callback from WeCom: a message (parsed, stored) or an event."""
        cmd = frame["cmd"]
        if cmd == "aibot_msg_callback":
            try:
                messages = self.channel.parse_aibot(frame.get("body"), frame["headers"]["req_id"])
            except PayloadError as exc:
                link.refuse(MALFORMED, {"reason": f"a message callback that does not parse: {exc.reason}"})
                return
            if messages:
                link.store(messages)
        elif cmd == "aibot_event_callback":
            body = frame.get("body") if isinstance(frame.get("body"), dict) else {}
            event = body.get("event") if isinstance(body.get("event"), dict) else {}
            if event.get("eventtype") == "disconnected_event":
                raise SocketClosed("WeCom says another connection for this AI bot took over")
            presses = self.channel.parse_aibot_event(body, frame["headers"]["req_id"])
            if presses:
                link.store(presses)
        else:
            log.debug("wecom AI bot: ignored a %s frame", str(cmd)[:40])

    def _answer(self, frame: dict[str, Any]) -> None:
        """WeCom's answer to one of our commands: a heartbeat's, or one a sender waits for."""
        req_id = frame["headers"]["req_id"]
        if req_id.startswith("ping_"):
            self._unanswered = 0
        with self._waiting_lock:
            waiter = self._waiting.get(req_id)
        if waiter is not None:
            waiter[1].append(frame)
            waiter[0].set()

    def _fail_waiting(self) -> None:
        """Wake senders whose command is unanswered: the connection is gone."""
        with self._waiting_lock:
            for event, _ in self._waiting.values():
                event.set()


def _frame(raw: str | bytes) -> dict[str, Any] | None:
    try:
        frame = json.loads(raw)
    except (ValueError, RecursionError):
        return None
    if not isinstance(frame, dict) or not isinstance(frame.get("headers"), dict) \
            or not isinstance(frame["headers"].get("req_id"), str):
        return None
    return frame
