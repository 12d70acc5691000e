"""Discord's Gateway (v10, JSON) and the REST calls around it, on loopback.

HTTP: `GET /api/v10/gateway/bot` (Bot token) answers the socket URL and `session_start_limit`;
`GET /api/v10/users/@me` and `/oauth2/applications/@me` answer the bot's user and application (what
an SDK's login reads); `POST /api/v10/channels/<id>/messages` (Bot token) records a reply, as does an
interaction's follow-up (`POST /api/v10/webhooks/<application id>/<token>`, webhook mode's replies).
Every call is kept in `api_calls`. The socket sends HELLO, ACKs heartbeats sent before the session
starts, then expects IDENTIFY (token, intents; without `allow_message_content` the privileged intent
closes it with 4014, as Discord does) or RESUME (a known session and a sequence it has seen, else
INVALID_SESSION false). READY carries the session id, `resume_gateway_url`, the bot's user and, when
IDENTIFY named a shard, that shard. A connection opened with `compress=zlib-stream` gets every frame
as binary, through one zlib stream flushed per frame, as Discord sends it.
Every dispatch gets the session's next sequence number and is kept, so a RESUME replays what came
after the client's number, as Discord does; events dispatched while no connection is up wait for
the next RESUME. Heartbeats are ACKed (unless `ack_heartbeats` is off). `reconnect()` sends op 7,
`invalidate()` op 9, `drop()` cuts the connection without a close frame.
"""
from __future__ import annotations

import json
import re
import secrets
import threading
import time
import zlib
from typing import Any
from urllib.parse import urlsplit

from websockets.sync.server import ServerConnection

from .websocket_server import SocketPlatform, query

BOT_TOKEN = "MTEwMDAwMDAwMDAwMDAwMDAwMQ.fake.discord-bot-token-for-tests"
BOT_ID = "1100000000000000001"
BOT_USER = {"id": BOT_ID, "username": "smartbot", "discriminator": "0", "global_name": None, "avatar": None,
            "bot": True, "flags": 0}
ALICE = {"id": "1400000000000000001", "username": "alice", "discriminator": "0", "global_name": "Alice",
         "avatar": None}
MESSAGE_CONTENT = 1 << 15
WANTED_INTENTS = (1 << 0) | (1 << 9) | (1 << 12) | MESSAGE_CONTENT
_CHANNEL_MESSAGES = re.compile(r"^/api/v10/channels/([0-9]+)/messages$")
_FOLLOW_UP = re.compile(r"^/api/v10/webhooks/([0-9]+)/([^/]+)$")
_INTERACTION_CALLBACK = re.compile(r"^/api/v10/interactions/([0-9]+)/([^/]+)/callback$")


class _Session:
    def __init__(self) -> None:
        self.id = secrets.token_hex(16)
        self.events: list[dict[str, Any]] = []

    def next_seq(self) -> int:
        return len(self.events) + 1


class FakeDiscordGateway(SocketPlatform):
    def __init__(self, heartbeat_ms: int = 45_000) -> None:
        super().__init__()
        self.heartbeat_ms = heartbeat_ms
        self.ack_heartbeats = True
        self.allow_message_content = True
        self.starts_remaining = 1000
        self._gateway_session: _Session | None = None
        self._current: ServerConnection | None = None
        self.identifies: list[dict[str, Any]] = []
        self.resumes: list[dict[str, Any]] = []
        self.heartbeats: list[Any] = []
        self.queries: list[dict[str, Any]] = []
        self.paths: list[str] = []                  # each connection's URL path ("/resume" for a RESUME's)
        self.api_calls: list[tuple[str, str]] = []   # (method, path) of every REST call
        self._zlib: dict[ServerConnection, Any] = {}     # connections that asked for zlib-stream
        self._writing = threading.Lock()
        self.ready = 0
        self._next_id = 1300000000000000000
        self.interaction_callbacks: list[dict[str, Any]] = []     # interactions acknowledged over REST

    @property
    def api_base(self) -> str:
        return self.http.url + "/api/v10"

    # -- what a test does -----------------------------------------------------------------
    def message(self, content: str, *, channel_id: str = "1500000000000000001", guild_id: str | None = None,
                author: dict[str, Any] | None = None, mentions: list[dict[str, Any]] | None = None,
                message_id: str = "", **extra: Any) -> str:
        """Dispatch one MESSAGE_CREATE as Discord writes it; the message id."""
        with self._cv:
            self._next_id += 1
            message_id = message_id or str(self._next_id)
        data = {"id": message_id, "channel_id": channel_id, "type": 0, "content": content, "tts": False,
                "author": author or ALICE, "mentions": mentions or [], "mention_roles": [],
                "mention_everyone": False, "attachments": [], "embeds": [], "components": [], "pinned": False,
                "flags": 0, "edited_timestamp": None,
                "timestamp": time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime()), **extra}
        if guild_id:
            data["guild_id"] = guild_id
            data["member"] = {"nick": None, "roles": []}
        self.dispatch("MESSAGE_CREATE", data)
        return message_id

    def dispatch(self, kind: str, data: Any) -> int:
        """Give the event the session's next sequence number and send it when a connection is up."""
        with self._cv:
            session = self._gateway_session
            if session is None:
                raise AssertionError("no Gateway session yet: wait for READY first")
            frame = {"op": 0, "t": kind, "s": session.next_seq(), "d": data}
            session.events.append(frame)
            ws = self._current
        if ws is not None:
            self._send(ws, frame)
        return frame["s"]

    def send_raw(self, frame: str | dict[str, Any]) -> None:
        self._send(self.wait_connected(), frame)

    def reconnect(self) -> None:
        self.send_raw({"op": 7, "d": None})

    def invalidate(self, resumable: bool) -> None:
        """Op 9; unless `resumable`, the session is gone (a RESUME of it is refused)."""
        ws = self.wait_connected()
        if not resumable:
            with self._cv:
                self._gateway_session = None
        self._send(ws, {"op": 9, "d": resumable})

    def wait_connected(self, opens: int = 1, timeout: float = 10.0) -> ServerConnection:
        """The current connection, once `opens` sessions were READY or RESUMED in all."""
        with self._cv:
            if not self._cv.wait_for(lambda: self.ready >= opens and self._current is not None, timeout):
                raise AssertionError(f"no Gateway connection number {opens} within {timeout} s")
            return self._current  # type: ignore[return-value]

    # -- the platform's side ----------------------------------------------------------------
    def _api(self, method: str, path: str, authorization: str, data: Any) -> tuple[int, Any]:
        with self._cv:
            self.api_calls.append((method, path))
        if method == "POST" and _INTERACTION_CALLBACK.match(path):       # needs no bot token
            with self._cv:
                self.interaction_callbacks.append({"path": path, "json": data})
            return 200, {}
        follow_up = _FOLLOW_UP.match(path)
        if method == "POST" and follow_up and isinstance(data, dict) and data.get("content"):
            self._reply({"interaction_token": follow_up.group(2), **data})      # webhook mode's replies
            return 200, {"id": "1", "content": data["content"]}
        if authorization != f"Bot {BOT_TOKEN}":
            return 401, {"message": "401: Unauthorized", "code": 0}
        if method == "GET" and path == "/api/v10/gateway/bot":
            return 200, {"url": self.ws.url, "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": self.starts_remaining, "reset_after": 1000, "max_concurrency": 1}}
        if method == "GET" and path == "/api/v10/users/@me":
            return 200, BOT_USER
        if method == "GET" and path == "/api/v10/oauth2/applications/@me":
            return 200, {"id": BOT_ID, "name": "smartbot", "description": "", "icon": None, "bot_public": False,
                         "bot_require_code_grant": False, "owner": ALICE, "verify_key": "00" * 32, "flags": 0,
                         "team": None, "summary": "", "rpc_origins": []}
        target = _CHANNEL_MESSAGES.match(path)
        if method == "POST" and target:
            if not isinstance(data, dict) or not data.get("content"):
                return 400, {"message": "Cannot send an empty message", "code": 50006}
            with self._cv:
                self._next_id += 1
            self._reply({"channel_id": target.group(1), **data})
            return 200, {"id": str(self._next_id), "channel_id": target.group(1), "content": data["content"]}
        return 404, {"message": "404: Not Found", "code": 0}

    def _session(self, ws: ServerConnection) -> None:
        asked = query(ws)
        with self._cv:
            self.queries.append(asked)
            self.paths.append(urlsplit(ws.request.path).path if ws.request else "")
            if asked.get("compress") == "zlib-stream":
                self._zlib[ws] = zlib.compressobj()
        try:
            self._serve(ws)
        finally:
            with self._cv:
                self._zlib.pop(ws, None)

    def _serve(self, ws: ServerConnection) -> None:
        self._write(ws, {"op": 10, "d": {"heartbeat_interval": self.heartbeat_ms}})
        first = json.loads(ws.recv(timeout=10))
        while first.get("op") == 1:             # a heartbeat may come before IDENTIFY (discord.py's does)
            self._client_frame(ws, first)
            first = json.loads(ws.recv(timeout=10))
        if first.get("op") == 2:
            self._identify(ws, first.get("d") or {})
        elif first.get("op") == 6:
            self._resume(ws, first.get("d") or {})
        else:
            ws.close(4003, "Not authenticated.")
            return
        try:
            for text in ws:
                self._client_frame(ws, json.loads(text))
        finally:
            with self._cv:
                if self._current is ws:
                    self._current = None

    def _identify(self, ws: ServerConnection, data: dict[str, Any]) -> None:
        with self._cv:
            self.identifies.append(data)
        if data.get("token") != BOT_TOKEN:
            ws.close(4004, "Authentication failed.")
            return
        if data.get("intents", 0) & MESSAGE_CONTENT and not self.allow_message_content:
            ws.close(4014, "Disallowed intent(s).")
            return
        session = _Session()
        ready = {"v": 10, "user": BOT_USER, "guilds": [], "private_channels": [], "session_id": session.id,
                 "session_type": "normal", "resume_gateway_url": self.ws.url + "/resume",
                 "application": {"id": BOT_ID, "flags": 0}}
        if isinstance(data.get("shard"), list):
            ready["shard"] = data["shard"]
        frame = {"op": 0, "t": "READY", "s": 1, "d": ready}
        session.events.append(frame)
        with self._cv:
            self._gateway_session = session
        self._write(ws, frame)
        self._up(ws)

    def _resume(self, ws: ServerConnection, data: dict[str, Any]) -> None:
        with self._cv:
            self.resumes.append(data)
            session = self._gateway_session
        seq = data.get("seq")
        if (session is None or data.get("session_id") != session.id or data.get("token") != BOT_TOKEN
                or not isinstance(seq, int) or seq > len(session.events)):
            self._write(ws, {"op": 9, "d": False})
            return
        for frame in session.events[seq:]:
            self._write(ws, frame)
        resumed = {"op": 0, "t": "RESUMED", "s": session.next_seq(), "d": {}}
        session.events.append(resumed)
        self._write(ws, resumed)
        self._up(ws)

    def _up(self, ws: ServerConnection) -> None:
        with self._cv:
            self._current = ws
            self.ready += 1
            self._cv.notify_all()

    def _client_frame(self, ws: ServerConnection, frame: dict[str, Any]) -> None:
        if frame.get("op") == 1:
            with self._cv:
                self.heartbeats.append(frame.get("d"))
                self._cv.notify_all()
            if self.ack_heartbeats:
                self._write(ws, {"op": 11})
        elif frame.get("op") == 2:
            ws.close(4005, "Already authenticated.")

    def _write(self, ws: ServerConnection, frame: str | dict[str, Any]) -> None:
        """Send one frame: text, or binary through the connection's zlib stream when it asked for one."""
        text = frame if isinstance(frame, str) else json.dumps(frame)
        with self._writing:         # one zlib stream per connection: compressed and sent in one order
            stream = self._zlib.get(ws)
            ws.send(stream.compress(text.encode()) + stream.flush(zlib.Z_SYNC_FLUSH) if stream else text)

    def _send(self, ws: ServerConnection, frame: str | dict[str, Any]) -> None:  # type: ignore[override]
        """As `_write`, or nothing when the connection went away (a RESUME replays it later)."""
        try:
            self._write(ws, frame)
        except Exception:
            pass
