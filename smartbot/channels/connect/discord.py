"""Discord in connect mode: the Gateway (v10, JSON), so the bot hears ordinary messages and mentions.

`GET {api_base}/gateway/bot` (Bot token) gives the socket URL and the identify budget
(`session_start_limit`). The Gateway opens with HELLO (the heartbeat interval); the first heartbeat
goes after a random part of it, so many clients reconnecting at once spread out. IDENTIFY asks for
guilds, guild messages, direct messages and message content; READY gives the session id, the URL to
resume at and the bot's own user id. Each dispatch carries a sequence number: a MESSAGE_CREATE is
parsed by the channel (`DiscordChannel.parse_message`), stored, and only then is its number saved
with the session (`Link.save_cursor`), so a process taking the connection over RESUMEs from there
and Discord replays what came after; a replay is dropped by the inbox's unique key (the message id).
An INTERACTION_CREATE pressing one of our buttons (a MESSAGE_COMPONENT; Discord sends interactions
over the Gateway when the app has no interactions endpoint URL) is stored as a press the same way,
then acknowledged with `POST /interactions/<id>/<token>/callback` type 6 (deferred update).

A heartbeat not ACKed before the next one is due means a dead connection: it is closed with a code
that keeps the session, and resumed. RECONNECT (op 7) and INVALID_SESSION (op 9) end the connection
the same way, the latter forgetting the session unless Discord says it may be resumed. The socket
is always closed with code 4000, never 1000: Discord ends a session closed with 1000, which would
make the next holder IDENTIFY (and spend the daily budget) instead of resuming.
"""
from __future__ import annotations

import logging
import random
import time
from typing import Any, Iterator
from urllib.parse import quote, urlencode, urlsplit, urlunsplit

from ...errors import ConfigError, PayloadError
from ..discord import MESSAGE_COMPONENT
from .base import Link
from .websocket import OPEN_TIMEOUT, Malformed, Socket, SocketClosed, ask, json_frame
from .wsloop import WebsocketConnector

log = logging.getLogger(__name__)
DEFERRED_UPDATE = {"type": 6}     # a press acknowledged; the message is edited later

DISPATCH, HEARTBEAT, IDENTIFY, RESUME, RECONNECT, INVALID_SESSION, HELLO, HEARTBEAT_ACK = 0, 1, 2, 6, 7, 9, 10, 11
GUILDS, GUILD_MESSAGES, DIRECT_MESSAGES, MESSAGE_CONTENT = 1 << 0, 1 << 9, 1 << 12, 1 << 15
INTENTS = GUILDS | GUILD_MESSAGES | DIRECT_MESSAGES | MESSAGE_CONTENT
GATEWAY_QUERY = {"v": "10", "encoding": "json"}
KEEP_SESSION = 4000               # any close code but 1000/1001 leaves the session resumable
IDENTIFY_SPACING = 5.0            # Discord allows one IDENTIFY per 5 s (per concurrency bucket)
_FATAL = {
    4004: ("channels.discord.bot_token", "Discord refused the bot token (4004)",
           "copy the token again from the Developer Portal, Bot > Reset Token"),
    4013: ("channels.discord.mode", "Discord refused the intents asked for (4013)", "report this as a bug"),
    4014: ("channels.discord.mode", "Discord refused the privileged Message Content intent (4014)",
           "turn on Bot > Privileged Gateway Intents > Message Content Intent in the Developer Portal"),
}
_SESSION_ENDED = (4007, 4009)     # invalid sequence, session timed out: identify anew


class DiscordGateway(WebsocketConnector):
    """One Gateway connection (a single shard) for the Discord channel."""

    what = "the Discord Gateway"
    close_code = KEEP_SESSION

    def __init__(self, channel: Any) -> None:
        super().__init__(channel)
        self._last_identify = 0.0
        self._session = _Session()
        self._connection: _Connection | None = None

    def address(self, link: Link) -> str:
        """Where to RESUME the stored session, else a new Gateway URL once IDENTIFY is allowed."""
        self._session = session = _Session.from_cursor(link.cursor())
        if session.resumable:
            url = session.resume_url
        else:
            url = self._gateway_url(link) if self._identify_allowed(link) else ""
        return _with_query(url) if url else ""

    def greet(self, socket: Socket, frames: Iterator[str | bytes | None], link: Link) -> None:
        self._connection = _Connection(self, socket, link, self._session)
        self._connection.start()

    def up(self, link: Link, host: str) -> None:
        """Up on READY or RESUMED, not when the socket opens."""

    def read_timeout(self, link: Link) -> float:
        due = self._connection.next_beat - time.monotonic() if self._connection else self.tick
        return max(0.05, min(self.tick, due, link.time_left()))

    def beat(self, socket: Socket) -> None:
        if self._connection is not None:
            self._connection.beat_when_due()

    def handle(self, raw: str | bytes, socket: Socket, link: Link) -> bool:
        return self._connection.frame(raw) if self._connection else False

    def lost(self, exc: SocketClosed, link: Link) -> None:
        self._closed(exc, link, self._connection.session if self._connection else self._session)

    def ended(self, link: Link) -> None:
        connection, self._connection = self._connection, None
        if connection is not None and connection.pause:
            link.wait(connection.pause)        # with no socket open: a pause holds no connection

    def identified(self) -> None:
        self._last_identify = time.monotonic()

    def _identify_allowed(self, link: Link) -> bool:
        """Wait out the spacing between two IDENTIFYs, before a socket is open; False when told to
        stop meanwhile."""
        wait = self._last_identify + IDENTIFY_SPACING - time.monotonic()
        return not (wait > 0 and link.wait(wait))

    # -- discovery and endings ----------------------------------------------------------
    def _gateway_url(self, link: Link) -> str:
        """The Gateway URL, once the identify budget allows a new session; "" after a wait."""
        config = self.channel.config
        answer = ask(self._http, "GET", f"{config.api_base}/gateway/bot", timeout=config.timeout,
                     headers={"Authorization": f"Bot {config.bot_token}"})
        if answer.status == 401:
            raise ConfigError(*_FATAL[4004])
        if answer.status == 429:
            link.disconnected("Discord rate-limited /gateway/bot")
            link.wait(_seconds(answer.data.get("retry_after")) or answer.retry_after or 5.0)
            return ""
        url = answer.data.get("url")
        if answer.status >= 400 or not isinstance(url, str) or not url:
            raise SocketClosed(f"/gateway/bot answered {answer.status} without a url")
        limit = answer.data.get("session_start_limit")
        if isinstance(limit, dict) and limit.get("remaining") == 0:
            reset = _seconds(limit.get("reset_after"), scale=1000.0) or 60.0
            link.disconnected(f"Discord's daily session starts are used up; the next in {reset:.0f} s")
            link.wait(reset)
            return ""
        return url

    def _closed(self, exc: SocketClosed, link: Link, session: "_Session") -> None:
        if exc.code in _FATAL:
            link.disconnected(_FATAL[exc.code][1])
            raise ConfigError(*_FATAL[exc.code])
        if exc.code in _SESSION_ENDED and session.resumable:
            session.forget()
            link.save_cursor(session.cursor())
        link.disconnected(exc.reason)


class _Session:
    """What lets a later connection RESUME: Discord's session id, where to resume, the last sequence
    number whose event is stored, and the bot's own user id (READY is not sent again on RESUME)."""

    def __init__(self, session_id: str = "", resume_url: str = "", seq: int | None = None, bot_user_id: str = ""):
        self.session_id, self.resume_url, self.seq, self.bot_user_id = session_id, resume_url, seq, bot_user_id

    @classmethod
    def from_cursor(cls, cursor: dict[str, Any]) -> "_Session":
        seq = cursor.get("seq")
        values = [cursor.get(k) for k in ("session_id", "resume_gateway_url", "bot_user_id")]
        if not all(isinstance(v, str) for v in values) or not isinstance(seq, (int, type(None))):
            return cls()
        return cls(values[0], values[1], seq, values[2])

    @property
    def resumable(self) -> bool:
        return bool(self.session_id and self.resume_url and self.bot_user_id and self.seq is not None)

    def forget(self) -> None:
        self.session_id, self.resume_url, self.seq = "", "", None

    def cursor(self) -> dict[str, Any]:
        return {"session_id": self.session_id, "resume_gateway_url": self.resume_url, "seq": self.seq,
                "bot_user_id": self.bot_user_id}


class _Connection:
    """One open socket: HELLO, IDENTIFY or RESUME, then heartbeats and dispatches until it ends."""

    def __init__(self, gateway: DiscordGateway, socket: Socket, link: Link, session: _Session) -> None:
        self.gateway, self.socket, self.link, self.session = gateway, socket, link, session
        self.channel = gateway.channel
        self.interval = 0.0
        self.next_beat = 0.0
        self.acked = True
        self.seq = session.seq          # the newest number seen; session.seq: the newest saved
        self.saved_seq = session.seq
        self.pause = 0.0                # seconds to wait once the socket is closed (INVALID_SESSION)

    def start(self) -> None:
        self._hello()
        if self.session.resumable:
            self.socket.send({"op": RESUME, "d": {"token": self.channel.config.bot_token,
                                                  "session_id": self.session.session_id, "seq": self.session.seq}})
        else:
            self._identify()

    def _hello(self) -> None:
        text = self.socket.receive(OPEN_TIMEOUT)
        try:
            frame = json_frame(text) if text is not None else {}
        except Malformed:
            frame = {}
        data = frame.get("d") if isinstance(frame.get("d"), dict) else {}
        interval = _seconds(data.get("heartbeat_interval"), scale=1000.0)
        if frame.get("op") != HELLO or not interval:
            raise SocketClosed("the Gateway did not start with HELLO")
        self.link.event_seen()
        self.interval = min(max(interval, 1.0), 600.0)
        self.next_beat = time.monotonic() + self.interval * random.random()

    def _identify(self) -> None:
        self.socket.send({"op": IDENTIFY, "d": {
            "token": self.channel.config.bot_token, "intents": INTENTS,
            "properties": {"os": "linux", "browser": "smartbot", "device": "smartbot"}}})
        self.gateway.identified()

    def beat_when_due(self) -> None:
        if time.monotonic() < self.next_beat:
            return
        if not self.acked:
            raise SocketClosed("Discord did not acknowledge the last heartbeat")
        self._beat()
        if self.seq != self.saved_seq and self.session.session_id:
            self._save()

    def _beat(self) -> None:
        self.socket.send({"op": HEARTBEAT, "d": self.seq})
        self.acked = False
        self.next_beat = time.monotonic() + self.interval

    def frame(self, text: str | bytes) -> bool:
        """Handle one frame; False when the connection should end here."""
        try:
            frame = json_frame(text)
        except Malformed as exc:
            self.link.refuse(str(exc))
            return True
        op = frame.get("op")
        if op == DISPATCH:
            self._dispatch(frame)
        elif op == HEARTBEAT:
            self._beat()
        elif op == HEARTBEAT_ACK:
            self.acked = True
        elif op == RECONNECT:
            self.link.disconnected("Discord asked for a new connection (RECONNECT)")
            return False
        elif op == INVALID_SESSION:
            self._invalid_session(frame.get("d") is True)
            return False
        return True

    def _dispatch(self, frame: dict[str, Any]) -> None:
        kind, data, seq = frame.get("t"), frame.get("d"), frame.get("s")
        if isinstance(seq, int) and not isinstance(seq, bool):
            self.seq = seq
        if not isinstance(data, dict):
            self.link.refuse("a dispatch without an object", {"type": str(kind)[:40]})
            return
        if kind == "READY":
            self._ready(data)
        elif kind == "RESUMED":
            self.link.connected("Gateway session resumed")
        elif kind == "MESSAGE_CREATE":
            self._message(data)
        elif kind == "INTERACTION_CREATE" and data.get("type") == MESSAGE_COMPONENT:
            self._press(data)

    def _ready(self, data: dict[str, Any]) -> None:
        user = data.get("user") if isinstance(data.get("user"), dict) else {}
        session_id, resume_url = data.get("session_id"), data.get("resume_gateway_url")
        if not isinstance(session_id, str) or not isinstance(resume_url, str) or not user.get("id"):
            self.link.refuse("a READY without session_id, resume_gateway_url or user")
            return
        self.session = _Session(session_id, resume_url, self.seq, str(user["id"]))
        self._save()
        self.link.connected(f"Gateway session for {str(user.get('username') or 'the bot')[:60]}")

    def _message(self, data: dict[str, Any]) -> None:
        try:
            messages = self.channel.parse_message(data, self.session.bot_user_id)
        except PayloadError as exc:
            self.link.refuse(exc.reason, {"type": "MESSAGE_CREATE"})
            return
        if messages:
            self.link.store(messages)
            self._save()

    def _press(self, data: dict[str, Any]) -> None:
        """A button of ours pressed (interactions come over the Gateway when the app has no
        interactions endpoint): stored as a press, then acknowledged with a deferred update (type 6)
        as the webhook answers one; the worker answers through the interaction's token."""
        try:
            presses = self.channel.parse_press(data)
        except PayloadError as exc:
            self.link.refuse(exc.reason, {"type": "INTERACTION_CREATE"})
            return
        if not presses:
            return
        self.link.store(presses)
        self._save()
        config = self.channel.config
        url = (f"{config.api_base}/interactions/{quote(str(data.get('id')), safe='')}/"
               f"{quote(str(data.get('token')), safe='')}/callback")
        try:
            answer = ask(self.gateway._http, "POST", url, headers={}, timeout=config.timeout, body=DEFERRED_UPDATE)
            if answer.status >= 400:
                log.warning("discord: the press was stored but its acknowledgement got %s", answer.status)
        except SocketClosed as exc:         # the press is stored all the same: the worker answers it
            log.warning("discord: could not acknowledge a press (%s)", exc.reason)

    def _save(self) -> None:
        """The session with the newest sequence number: every event up to it has been handled."""
        self.session.seq = self.seq
        self.link.save_cursor(self.session.cursor())
        self.saved_seq = self.seq

    def _invalid_session(self, resumable: bool) -> None:
        if not resumable and self.session.session_id:
            self.session.forget()
            self.link.save_cursor(self.session.cursor())
        self.link.disconnected("Discord invalidated the session" + (" (resumable)" if resumable else ""))
        self.pause = random.uniform(1.0, 5.0)


def _with_query(url: str) -> str:
    """The Gateway URL with the version and encoding SmartBot speaks, whatever query it came with."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path or "/", urlencode(GATEWAY_QUERY), ""))


def _seconds(value: Any, scale: float = 1.0) -> float:
    """A positive finite duration from the platform, in seconds; 0.0 when it is none."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return 0.0
    seconds = float(value) / scale
    return seconds if 0 < seconds < 86_400 * 2 else 0.0
