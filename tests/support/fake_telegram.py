"""A fake Telegram Bot API for long polling: getUpdates, deleteWebhook, setWebhook, sendMessage, getMe.

It keeps updates the way Telegram does: an update stays until getUpdates is called with an offset
past its update_id; getUpdates answers at once when updates wait, else after its `timeout`, with 409
Conflict while a webhook is set. It counts the getUpdates calls open at the same time: a second one
is recorded in `overlaps` (Telegram would answer one of them 409), and tests assert there are none.
A poll whose client went away (a killed process) stops counting as soon as the socket closes.
`drop_polls(n)` cuts the next n polls without an answer, as a platform dropping the connection does.
"""
from __future__ import annotations

import json
import select
import socket
import threading
import time
from typing import Any

from .httpserver import LoopbackServer, QuietHandler

TOKEN = "424242:AAHfakeTelegramTokenForTests_0123456789"
BOT_ID = 424242
USERNAME = "smartbot_test_bot"


def text_update(chat_id: int, message_id: int, text: str, user_id: int | None = None) -> dict[str, Any]:
    """The `message` of a private text message (the fake adds the update_id)."""
    user = user_id or chat_id
    return {"message": {"message_id": message_id, "date": int(time.time()), "text": text,
                        "chat": {"id": chat_id, "type": "private", "first_name": "Ann"},
                        "from": {"id": user, "is_bot": False, "first_name": "Ann", "language_code": "en"}}}


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(self.read_body())

    def do_GET(self) -> None:  # noqa: N802
        self._answer(b"")

    def _answer(self, body: bytes) -> None:
        fake: FakeTelegram = self.server.owner  # type: ignore[attr-defined]
        try:
            data = json.loads(body) if body else {}
        except ValueError:
            data = {}
        answer = fake._handle(self.path, data if isinstance(data, dict) else {}, self.connection)
        if answer is None:          # dropped: close without an answer
            self.close_connection = True
            try:
                self.connection.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass
            return
        status, payload = answer
        self.send(status, json.dumps(payload).encode())


class FakeTelegram(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self._cv = threading.Condition()
        self.updates: list[dict[str, Any]] = []     # not yet confirmed, in update_id order
        self.next_update_id = 500_000
        self.webhook_url = "https://example.invalid/webhooks/telegram"    # set until deleteWebhook
        self.calls: dict[str, int] = {}
        self.sent: list[dict[str, Any]] = []
        self.polling = 0
        self.overlaps: list[float] = []
        self.max_polling = 0
        self.poll_started: list[float] = []     # time.time() of each getUpdates call
        self._drops = 0
        self._scripted: list[tuple[int, dict[str, Any]]] = []

    @property
    def base(self) -> str:
        return self.url

    # -- what a test does -----------------------------------------------------------------------
    def push(self, update: dict[str, Any]) -> int:
        """Queue an update (its update_id given here); returns the update_id."""
        with self._cv:
            self.next_update_id += 1
            self.updates.append({"update_id": self.next_update_id, **update})
            self._cv.notify_all()
            return self.next_update_id

    def push_raw(self, update: Any) -> None:
        """Queue anything at all as the next update (malformed ones included)."""
        with self._cv:
            self.updates.append(update)
            self._cv.notify_all()

    def script_polls(self, *answers: tuple[int, dict[str, Any]]) -> None:
        """The next getUpdates calls get these (status, body) answers."""
        with self._cv:
            self._scripted.extend(answers)

    def drop_polls(self, count: int = 1) -> None:
        with self._cv:
            self._drops += count

    def wait_sent(self, count: int, timeout: float = 20.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.sent) < count and time.monotonic() < deadline:
                self._cv.wait(max(0.01, deadline - time.monotonic()))
            return list(self.sent)

    def wait_polled(self, calls: int, timeout: float = 20.0) -> bool:
        deadline = time.monotonic() + timeout
        with self._cv:
            while self.calls.get("getUpdates", 0) < calls and time.monotonic() < deadline:
                self._cv.wait(max(0.01, deadline - time.monotonic()))
            return self.calls.get("getUpdates", 0) >= calls

    def pending(self) -> int:
        with self._cv:
            return len(self.updates)

    # -- the API --------------------------------------------------------------------------------
    def _handle(self, path: str, data: dict[str, Any], conn: socket.socket) -> tuple[int, dict[str, Any]] | None:
        prefix = f"/bot{TOKEN}/"
        if not path.startswith(prefix):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path[len(prefix):]
        with self._cv:
            self.calls[method] = self.calls.get(method, 0) + 1
            self._cv.notify_all()
        if method == "getUpdates":
            return self._get_updates(data, conn)
        with self._cv:
            if method == "deleteWebhook":
                self.webhook_url = ""
                return 200, {"ok": True, "result": True, "description": "Webhook was deleted"}
            if method == "setWebhook":
                self.webhook_url = str(data.get("url") or "")
                return 200, {"ok": True, "result": True, "description": "Webhook was set"}
            if method == "getMe":
                return 200, {"ok": True, "result": {"id": BOT_ID, "is_bot": True, "username": USERNAME}}
            if method == "sendMessage":
                if not data.get("chat_id") or not data.get("text"):
                    return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
                self.sent.append({**data, "at": time.time()})
                self._cv.notify_all()
                return 200, {"ok": True, "result": {"message_id": len(self.sent), "chat": {"id": data["chat_id"]}}}
        return 404, {"ok": False, "error_code": 404, "description": "Not Found"}

    def _get_updates(self, data: dict[str, Any], conn: socket.socket) -> tuple[int, dict[str, Any]] | None:
        with self._cv:
            self.poll_started.append(time.time())
            self.polling += 1
            self.max_polling = max(self.max_polling, self.polling)
            if self.polling > 1:
                self.overlaps.append(time.time())
        try:
            return self._poll(data, conn)
        finally:
            with self._cv:
                self.polling -= 1
                self._cv.notify_all()

    def _poll(self, data: dict[str, Any], conn: socket.socket) -> tuple[int, dict[str, Any]] | None:
        offset = data.get("offset") if isinstance(data.get("offset"), int) else 0
        timeout = min(float(data.get("timeout") or 0), 50.0)
        deadline = time.monotonic() + timeout
        with self._cv:
            if self._drops:
                self._drops -= 1
                return None
            if self._scripted:
                return self._scripted.pop(0)
            if self.webhook_url:
                return _CONFLICT
            if offset:      # an offset confirms every update before it
                self.updates = [u for u in self.updates
                                if not isinstance(u, dict) or not isinstance(u.get("update_id"), int)
                                or u["update_id"] >= offset]
            while True:
                if self.webhook_url:        # a webhook set while this poll waits ends it too, as Telegram does
                    return _CONFLICT
                ready = [u for u in self.updates if not (isinstance(u, dict) and isinstance(u.get("update_id"), int)
                                                          and u["update_id"] < offset)]
                if ready or time.monotonic() >= deadline:
                    # Updates that are not objects with an id go out once (Telegram never sends them).
                    self.updates = [u for u in self.updates if isinstance(u, dict) and isinstance(u.get("update_id"), int)]
                    return 200, {"ok": True, "result": ready[:100]}
                self._cv.wait(min(0.05, max(0.0, deadline - time.monotonic())))
                if _closed(conn):
                    return None


_CONFLICT = (409, {"ok": False, "error_code": 409, "description": "Conflict: can't use getUpdates method while "
                                                                   "webhook is active; use deleteWebhook to delete "
                                                                   "the webhook first"})


def _closed(conn: socket.socket) -> bool:
    """Whether the client closed its end (a killed process's socket is closed by the kernel)."""
    try:
        readable, _, _ = select.select([conn], [], [], 0)
        return bool(readable) and conn.recv(1, socket.MSG_PEEK) == b""
    except OSError:
        return True
