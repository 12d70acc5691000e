"""A web chat visitor over plain HTTP, and the helpers the web chat tests share: the chat id in a
visitor's cookie, a reply scripted for the fake model, a message written to a chat by another
process (as an approval's outcome or a workflow's report is)."""
from __future__ import annotations

import os
import time
from typing import Any

import requests

from smartbot.gateway import outbox
from smartbot.messages import Reply
from smartbot.storage.tables import Outbox
from smartbot.webchat.cookie import NAME, ChatCookie

HEADERS = {"X-Requested-With": "smartbot"}


class Visitor:
    """One browser's cookies, talking to /chat's API as the page does."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.s = requests.Session()
        assert self.s.get(url + "/chat", timeout=10).status_code == 200
        self._sent = 0

    @property
    def chat_id(self) -> str:
        return chat_id_of(self.s.cookies.get(NAME))

    def send(self, text: str, client_id: str | None = None) -> requests.Response:
        self._sent += 1
        client_id = client_id or f"client-{self._sent:04d}-{time.monotonic_ns() % 10**6}"
        return self.s.post(self.url + "/chat/api/messages", json={"text": text, "client_id": client_id},
                           headers=HEADERS, timeout=10)

    def history(self, **params: Any) -> requests.Response:
        return self.s.get(self.url + "/chat/api/history", params=params, timeout=10)

    def poll(self, after: int, wait: float = 0) -> requests.Response:
        return self.s.get(self.url + "/chat/api/messages", params={"after": after, "wait": wait}, timeout=20)

    def replies(self, count: int, after: int = 0, timeout: float = 20.0) -> list[dict[str, Any]]:
        """The next `count` replies after `after`, as the page's long poll gets them."""
        found: list[dict[str, Any]] = []
        deadline = time.monotonic() + timeout
        while len(found) < count and time.monotonic() < deadline:
            data = self.poll(after, wait=2).json()
            found += data["messages"]
            after = data["last"]
        assert len(found) >= count, found
        return found

    def say(self, text: str) -> dict[str, Any]:
        """Send a message and wait for its reply (the feed picks up after the newest reply so far)."""
        after = self.history().json()["last"]
        assert self.send(text).status_code == 202
        return self.replies(1, after)[0]


def chat_id_of(cookie_value: str | None) -> str:
    """The chat a web chat cookie names (the apps under test sign with the test process's key)."""
    chat_id = ChatCookie(os.environ["SMARTBOT_SECRET_KEY"], 86400).read(cookie_value, time.time())
    assert chat_id, "no valid chat cookie"
    return chat_id


def model_says(text: str) -> dict[str, Any]:
    """A step for the fake model's script: an OpenAI-style completion answering `text`."""
    return {"body": {"id": "cmpl-test", "object": "chat.completion", "model": "fake-1",
                     "choices": [{"index": 0, "message": {"role": "assistant", "content": text},
                                  "finish_reason": "stop"}],
                     "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}}


def write_to_chat(db: Any, chat_id: str, text: str, key: str, delivered: bool = False) -> int:
    """A message to a web chat that answers nothing the visitor sent, written by this process (not
    the app's): queued for the app's workers to deliver, or already `delivered`, so no worker of the
    app touches it and no wake-up reaches a waiting poll."""
    chat_key = f"webchat:{chat_id}"
    with db.write() as conn:
        [row_id] = outbox.add(conn, [Reply("webchat", chat_id, text)], key, chat_key)
        if delivered:
            table = Outbox.__table__
            conn.execute(table.update().where(table.c.id == row_id).values(status="done", finished_at=time.time()))
    return row_id
