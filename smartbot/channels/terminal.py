"""The terminal channel used by `smartbot chat`: replies are handed to a callback (printed)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import SignatureError
from ..messages import InboundMessage, Reply
from .base import Channel, WebRequest


@dataclass
class TerminalConfig:
    pass


class TerminalChannel(Channel):
    name = "cli"
    config_class = TerminalConfig
    accepts_webhooks = False

    def __init__(self, on_reply: Callable[[Reply], None]) -> None:
        super().__init__(TerminalConfig())
        self._on_reply = on_reply

    def verify(self, req: WebRequest) -> None:
        raise SignatureError("the terminal channel takes no webhooks")

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        return []

    def send(self, reply: Reply) -> None:
        self._on_reply(reply)
