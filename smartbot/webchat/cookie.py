"""The web chat visitor's cookie: which chat is theirs, signed, with the time it was issued.

It is the visitor's only credential, so it is not a value kept for a month: every answer issues a
new one (same chat, new issue time), and one not used for `[webchat] session_idle_days` is refused
(the visitor starts a new chat). HttpOnly, SameSite=Lax, Secure over HTTPS. Never trust a chat id
that did not come out of `read`.
"""
from __future__ import annotations

import re
import secrets
from typing import Any

from itsdangerous import BadSignature, URLSafeSerializer

NAME = "smartbot_chat"
PATH = "/chat"
CHAT_ID = re.compile(r"[A-Za-z0-9_\-]{8,64}\Z")
CLOCK_SKEW = 300.0          # an issue time this far ahead of our clock is still taken (several nodes)


def new_chat_id() -> str:
    return secrets.token_urlsafe(12)


class ChatCookie:
    def __init__(self, secret_key: str, idle_seconds: float) -> None:
        self.idle_seconds = idle_seconds
        self._signer = URLSafeSerializer(secret_key, salt="smartbot.webchat.chat")

    def issue(self, chat_id: str, now: float) -> str:
        return self._signer.dumps({"chat": chat_id, "issued": int(now)})

    def read(self, value: str | None, now: float) -> str | None:
        """The chat id of a cookie we issued and that is not idle too long; None otherwise."""
        if not value:
            return None
        try:
            data: Any = self._signer.loads(value)
        except BadSignature:
            return None
        if not isinstance(data, dict):
            return None
        chat_id, issued = data.get("chat"), data.get("issued")
        if not isinstance(chat_id, str) or not CHAT_ID.match(chat_id):
            return None
        if isinstance(issued, bool) or not isinstance(issued, int):
            return None
        if not now - self.idle_seconds <= issued <= now + CLOCK_SKEW:
            return None
        return chat_id
