"""The built-in web chat (/chat): a channel whose replies stay in the outbox for the page to read.

Requests come from the chat page's own blueprint (session cookie), not from a platform, so there
is nothing to verify here and sending is just marking the reply delivered. A reply the model is
still writing is shown from its preview (`[channels.webchat] stream`, pipeline/previews.py).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Callable, Optional

from ..errors import MediaRefused, SignatureError
from ..messages import Attachment, InboundMessage, Reply
from ..settings.schema import setting
from .base import Channel, StreamingConfig, WebRequest
from .support.files import FetchLimits, too_large

# (upload key, chat id) -> the bytes the visitor uploaded, or None when there is no such upload of theirs.
UploadReader = Callable[[str, str], Optional[bytes]]


@dataclass
class WebChatConfig(StreamingConfig):
    enabled: bool = setting(True)


class WebChatChannel(Channel):
    name = "webchat"
    config_class = WebChatConfig
    supports_markdown = True
    accepts_webhooks = False
    previews_from_database = True

    def __init__(self, config: WebChatConfig, uploads: UploadReader | None = None) -> None:
        super().__init__(config)
        self.delivered = threading.Condition()
        self._uploads = uploads

    def verify(self, req: WebRequest) -> None:
        raise SignatureError("the web chat takes messages only from its page at /chat")

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        return []

    def fetch(self, msg: InboundMessage, attachment: Attachment, limits: FetchLimits) -> bytes:
        """A file the visitor uploaded (POST /chat/api/files), only from their own chat."""
        data = self._uploads(attachment.key, msg.chat_id) if self._uploads is not None else None
        if data is None:
            raise MediaRefused("unavailable", "the upload is gone (uploads are kept for an hour)")
        if len(data) > limits.max_bytes:
            raise too_large(limits.max_bytes)
        return data

    def send(self, reply: Reply) -> None:
        # The reply row itself is what the page reads; wake any page waiting in this process.
        with self.delivered:
            self.delivered.notify_all()
