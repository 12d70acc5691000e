"""The built-in web chat (/chat): a channel whose replies stay in the outbox for the page to read.

Requests come from the chat page's own blueprint (session cookie), not from a platform, so there
is nothing to verify here and sending is just marking the reply delivered. A reply the model is
still writing is shown from its preview (`[channels.webchat] stream`, pipeline/previews.py).
"""
from __future__ import annotations

import threading
from dataclasses import dataclass

from ..errors import SignatureError
from ..messages import InboundMessage, Reply
from ..settings.schema import setting
from .base import Channel, StreamingConfig, WebRequest


@dataclass
class WebChatConfig(StreamingConfig):
    enabled: bool = setting(True)


class WebChatChannel(Channel):
    name = "webchat"
    config_class = WebChatConfig
    supports_markdown = True
    accepts_webhooks = False
    previews_from_database = True

    def __init__(self, config: WebChatConfig) -> None:
        super().__init__(config)
        self.delivered = threading.Condition()

    def verify(self, req: WebRequest) -> None:
        raise SignatureError("the web chat takes messages only from its page at /chat")

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        return []

    def send(self, reply: Reply) -> None:
        # The reply row itself is what the page reads; wake any page waiting in this process.
        with self.delivered:
            self.delivered.notify_all()
