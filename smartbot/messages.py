"""The unified message formats every layer speaks: plain dataclasses, no Flask, no ORM.

Channels translate a platform's payload into an `InboundMessage` and a `Reply` back into the
platform's send call; nothing else in SmartBot knows a platform's field names.
"""
from __future__ import annotations

import base64
import time
from dataclasses import asdict, dataclass, field
from typing import Any

DIRECT = "direct"
GROUP = "group"


@dataclass(frozen=True)
class Attachment:
    """A reference to a file the user sent: what the worker needs to fetch it from the platform's
    own file API (never the file itself: the webhook does not download)."""

    kind: str               # image | voice | file | audio | video | other
    name: str = ""
    url: str = ""
    key: str = ""           # platform file key when there is no URL
    mime: str = ""          # the type the platform declared (checked against the bytes when fetched)
    size: int = 0           # the size the platform declared; 0 = not said

    @property
    def placeholder(self) -> str:
        """How the attachment reads as text, for a message that is nothing but attachments."""
        return f"[{self.kind}: {self.name}]" if self.name else f"[{self.kind}]"


@dataclass
class InboundMessage:
    """One message from a user, whatever platform it came from.

    `event_id` is the dedup key: the channel chooses a value that stays the same when the platform
    redelivers the message (see platforms/PROTOCOLS.md, "Dedup keys").
    """

    channel: str
    event_id: str
    chat_id: str
    user_id: str
    text: str
    message_id: str = ""
    chat_type: str = DIRECT
    user_name: str = ""
    mentioned: bool = False
    attachments: list[Attachment] = field(default_factory=list)
    reply_context: dict[str, Any] = field(default_factory=dict)
    locale: str = ""
    received_at: float = field(default_factory=time.time)
    raw: Any = None
    request_id: str = ""        # follows the message into the worker's logs and its replies
    # What the channel could not decide at the webhook without calling its platform (which it never
    # does while the platform waits for the ack); the worker has the channel settle it (Channel.settle).
    unsettled: dict[str, Any] = field(default_factory=dict)
    # A button pressed on one of the bot's messages (an approval's Approve / Deny): the callback data
    # the button carried, checked by the worker, never trusted as text (channels/support/buttons.py).
    press: str = ""

    @property
    def conversation_key(self) -> str:
        """Memory and ordering are per chat and per user within it."""
        return f"{self.channel}:{self.chat_id}:{self.user_id}"

    @property
    def chat_key(self) -> str:
        """Replies to one chat are delivered in order."""
        return f"{self.channel}:{self.chat_id}"

    def to_record(self) -> dict[str, Any]:
        """What is stored in the inbox: everything but the raw platform payload."""
        record = {"channel": self.channel, "event_id": self.event_id, "chat_id": self.chat_id,
                  "user_id": self.user_id, "text": self.text, "message_id": self.message_id,
                  "chat_type": self.chat_type, "user_name": self.user_name, "mentioned": self.mentioned,
                  "attachments": [asdict(a) for a in self.attachments], "reply_context": self.reply_context,
                  "locale": self.locale, "received_at": self.received_at, "request_id": self.request_id}
        if self.unsettled:
            record["unsettled"] = self.unsettled
        if self.press:
            record["press"] = self.press
        return record

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> InboundMessage:
        data = dict(data)
        data["attachments"] = [Attachment(**a) for a in data.get("attachments") or []]
        return cls(**data)


@dataclass
class Reply:
    """One answer to send to a chat. `reply_context` is what the channel's send() needs."""

    channel: str
    chat_id: str
    text: str
    reply_context: dict[str, Any] = field(default_factory=dict)
    format: str = "plain"       # plain | markdown
    reply_to: str = ""          # the inbound event_id this answers, when there is one
    delivery_id: str = ""       # stable id of this reply, the same on every retry
    request_id: str = ""        # the request id of the message this answers
    # It confirms the conversation was cleared (/reset): a page showing the chat starts afresh after it.
    new_conversation: bool = False
    # A file to upload ({"name", "mime", "data": base64}); `text` is then its caption, and what a
    # channel without an upload API sends instead.
    file: dict[str, str] = field(default_factory=dict)
    # The platform's handle of the preview shown while the reply was written: sending the reply is
    # then the preview's final edit (Channel.deliver).
    preview: str = ""

    def file_bytes(self) -> bytes:
        return base64.b64decode(self.file.get("data") or "")

    def to_record(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_record(cls, data: dict[str, Any]) -> Reply:
        return cls(**data)


def split_text(text: str, limit: int, in_bytes: bool = False) -> list[str]:
    """Split `text` into parts of at most `limit` characters, preferring line and word breaks.

    With `in_bytes` the limit counts UTF-8 bytes (WeCom, DingTalk), so a part never ends inside a
    character and Chinese text is not cut three times too long.
    """
    size = _utf8_size if in_bytes else len
    if limit <= 0 or size(text) <= limit:
        return [text]
    parts: list[str] = []
    rest = text
    while size(rest) > limit:
        window = _chars_within(rest, limit) if in_bytes else limit
        cut = rest.rfind("\n", 0, window)
        if cut < window // 2:
            cut = rest.rfind(" ", 0, window)
        if cut < window // 2:
            cut = window
        parts.append(rest[:cut].rstrip())
        rest = rest[cut:].lstrip("\n ") if cut < len(rest) else ""
    if rest:
        parts.append(rest)
    return parts


def _utf8_size(text: str) -> int:
    return len(text.encode("utf-8", "surrogatepass"))


def _chars_within(text: str, limit: int) -> int:
    """How many leading characters of `text` fit in `limit` UTF-8 bytes (at least one)."""
    head = text.encode("utf-8", "surrogatepass")[:limit].decode("utf-8", "ignore")
    return max(1, len(head))
