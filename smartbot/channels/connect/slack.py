"""Slack in connect mode: Socket Mode, events over a websocket SmartBot opens, no public URL.

`POST {api_base}/apps.connections.open` with the app-level token (`xapp-...`, scope
`connections:write`) returns a single-use `wss://` URL. Slack then sends `hello`, envelopes, and
`disconnect` when it wants the client on a new connection. An `events_api` envelope carries the
same event callback the Events API would POST: it goes through the channel's own `parse`, then
`Link.store`, and only then is the envelope acknowledged with `{"envelope_id": ...}`; an envelope
not acknowledged comes again (Slack retries it), and the inbox's unique key drops the copy.
An `interactive` envelope (a decision button pressed) goes through the channel's
`parse_interaction` the same way; slash commands, which the webhook path does not take either,
are acknowledged and left alone. The app token is never logged: the connection URL carries a ticket,
so no reason names it either.
"""
from __future__ import annotations

import json
import logging
from typing import Any

from ...errors import ConfigError, PayloadError
from ..base import Headers, WebRequest
from .base import Link
from .websocket import Malformed, Socket, SocketClosed, ask, json_frame
from .wsloop import WebsocketConnector

log = logging.getLogger(__name__)

IGNORED_ENVELOPES = ("slash_commands",)
ENVELOPES = ("events_api", "interactive", *IGNORED_ENVELOPES)
# apps.connections.open errors that a person must fix; every other one may pass on its own.
_TOKEN_ERRORS = ("invalid_auth", "not_authed", "not_allowed_token_type", "token_revoked", "account_inactive",
                 "missing_scope", "token_expired")


class SlackSocketMode(WebsocketConnector):
    """One Socket Mode connection for the Slack channel."""

    what = "Slack Socket Mode"

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self._app_id = ""

    def address(self, link: Link) -> str:
        """A fresh wss URL from apps.connections.open; "" after waiting out a rate limit."""
        self._app_id = ""
        config = self.channel.config
        answer = ask(self._http, "POST", f"{config.api_base}/apps.connections.open", timeout=config.timeout,
                     headers={"Authorization": f"Bearer {config.app_token}"})
        error = str(answer.data.get("error") or "")[:100]
        if answer.status == 429 or error == "ratelimited":
            link.disconnected("Slack rate-limited apps.connections.open")
            link.wait(answer.retry_after or 30.0)
            return ""
        if error in _TOKEN_ERRORS:
            raise ConfigError("channels.slack.app_token", f"Slack refused the app token ({error})",
                              "use an app-level token (xapp-...) with the connections:write scope, "
                              "and turn on Socket Mode in the app's settings")
        url = answer.data.get("url")
        if answer.status >= 400 or answer.data.get("ok") is not True or not isinstance(url, str) or not url:
            raise SocketClosed(f"apps.connections.open answered {answer.status} {error or 'without a url'}")
        return url

    def up(self, link: Link, host: str) -> None:
        """Up once Slack says hello, not when the socket opens."""

    def lost(self, exc: SocketClosed, link: Link) -> None:
        link.disconnected(exc.reason)

    def handle(self, raw: str | bytes, socket: Socket, link: Link) -> bool:
        try:
            frame = json_frame(raw)
        except Malformed as exc:
            link.refuse(str(exc))
            return True
        kind = frame.get("type")
        if kind == "hello":
            info = frame.get("connection_info")
            self._app_id = str(info.get("app_id") or "") if isinstance(info, dict) else ""
            link.connected("Socket Mode")
        elif kind == "disconnect":
            why = str(frame.get("reason") or "")[:60]
            link.disconnected(f"Slack asked for a new connection ({why})")
            return False
        elif kind in ENVELOPES or "envelope_id" in frame:
            self._envelope(socket, link, frame, str(kind), self._app_id)
        else:
            log.debug("ignored a Socket Mode frame of type %s", str(kind)[:40])
        return True

    def _envelope(self, socket: Socket, link: Link, frame: dict[str, Any], kind: str, app_id: str) -> None:
        """Store what the envelope holds, then acknowledge it; a store that fails raises (no ack).
        An event naming another app than the one this connection was opened for (hello's
        connection_info) is refused: the one check Socket Mode leaves to the client."""
        envelope_id = frame.get("envelope_id")
        if not isinstance(envelope_id, str) or not envelope_id or len(envelope_id) > 200:
            link.refuse("an envelope without a usable envelope_id", {"type": kind[:40]})
            return
        if kind in ("events_api", "interactive"):
            try:
                messages = self.channel.parse(_as_request(frame.get("payload"), app_id)) if kind == "events_api" \
                    else self.channel.parse_interaction(_payload(frame.get("payload"), app_id, kind))
            except PayloadError as exc:
                # A payload that does not parse never will: acknowledged, so Slack stops resending it.
                link.refuse(exc.reason, {"type": kind})
                messages = []
            if messages:
                link.store(messages)
        elif kind in IGNORED_ENVELOPES:
            log.info("Slack sent a %s envelope; SmartBot answers messages and mentions only, so it is "
                     "acknowledged and ignored", kind)
        else:
            log.debug("acknowledged a Socket Mode envelope of type %s", kind[:40])
        socket.send({"envelope_id": envelope_id})


def _payload(payload: Any, app_id: str, kind: str) -> dict[str, Any]:
    if not isinstance(payload, dict):
        raise PayloadError(f"an {kind} envelope without a payload object")
    if app_id and payload.get("api_app_id") not in (None, app_id):
        raise PayloadError("an event for another app than this connection's")
    return payload


def _as_request(payload: Any, app_id: str) -> WebRequest:
    """An envelope's payload in the shape the webhook path hands to `parse`."""
    payload = _payload(payload, app_id, "events_api")
    return WebRequest("POST", "/slack/socket-mode", Headers({"Content-Type": "application/json"}),
                      json.dumps(payload).encode())
