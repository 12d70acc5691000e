"""The channel interface: translate between one platform and `messages.py`, nothing more.

A channel never imports the router, llm/, executor/ or auth/. The webhook path calls, in order:
`verify` (raise SignatureError), `single_use` (what of a signature that does not cover the body
the gateway must accept only once), `handshake` (a response for url-verification style requests,
else None), `parse` (InboundMessages; [] for events that are not messages), then `acknowledge`.
None of them calls the platform: the platform is waiting for the ack. The worker calls `settle`
(what parse could not decide without such a call) before routing a message, and `split` and `send`
for replies. Flask never reaches a channel: requests arrive as plain `WebRequest` values.
"""
from __future__ import annotations

import json
import logging
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Mapping

from ..errors import DeliveryError, MediaRefused, PayloadError
from ..httputil import load_json
from ..messages import Attachment, InboundMessage, Reply, split_text
from ..settings.schema import setting
from .support.files import FetchLimits

log = logging.getLogger(__name__)

_UNPARSED = object()


class Headers(dict):
    """Case-insensitive header lookup over a plain dict."""

    def __init__(self, items: Mapping[str, str] | None = None) -> None:
        super().__init__({k.lower(): v for k, v in (items or {}).items()})

    @classmethod
    def from_environ(cls, environ: Mapping[str, Any]) -> Headers:
        """A WSGI request's headers, read straight from its environ: cheaper per webhook than
        copying werkzeug's view of the same environ, which title-cases every name first."""
        headers = cls()
        for key, value in environ.items():
            if key.startswith("HTTP_"):
                dict.__setitem__(headers, key[5:].replace("_", "-").lower(), value)
        for key in ("CONTENT_TYPE", "CONTENT_LENGTH"):
            if environ.get(key):
                dict.__setitem__(headers, key.replace("_", "-").lower(), environ[key])
        return headers

    def get(self, key: str, default: Any = None) -> Any:  # type: ignore[override]
        return super().get(key.lower(), default)

    def __getitem__(self, key: str) -> str:
        return super().__getitem__(key.lower())

    def __contains__(self, key: object) -> bool:
        return super().__contains__(str(key).lower())


@dataclass
class WebRequest:
    method: str
    path: str
    headers: Headers
    body: bytes
    args: dict[str, str] = field(default_factory=dict)
    remote_addr: str = ""
    # What verify() decoded (e.g. a decrypted payload), so handshake/parse need not decode twice.
    decoded: Any = None
    _json: Any = field(default=_UNPARSED, repr=False, compare=False)

    def json(self) -> Any:
        """The body as JSON, or PayloadError with the reason. Parsed once: handshake and parse
        both read it (Slack, Discord). Callers read the result, they do not change it."""
        if self._json is _UNPARSED:
            if not self.body:
                raise PayloadError("empty body: expected JSON")
            self._json = load_json(self.body)
        return self._json


@dataclass
class WebResponse:
    status: int = 200
    body: Any = None                 # dict/list -> JSON, str/bytes -> as is
    content_type: str = ""
    headers: dict[str, str] = field(default_factory=dict)

    def encoded(self) -> tuple[bytes, str]:
        """The body as bytes and its content type (dicts and lists as JSON), for either route."""
        body, content_type = self.body, self.content_type
        if isinstance(body, (dict, list)):
            return json.dumps(body, ensure_ascii=False).encode(), content_type or "application/json"
        if body is None:
            body = b""
        elif isinstance(body, str):
            body = body.encode()
        return body, content_type or "text/plain; charset=utf-8"


@dataclass(frozen=True)
class SingleUse:
    """What makes a verified request's signature good for one body only, on a platform whose
    signature does not cover the body (DingTalk signs only the timestamp). `signature` is the
    signed value, `body_digest` a digest of the body it came with, `keep_until` the time after
    which the signature fails the platform's freshness window anyway."""

    signature: str
    body_digest: str
    keep_until: float


WEBHOOK, CONNECT = "webhook", "connect"


@dataclass
class ModeConfig:
    """How a platform's events reach SmartBot: its webhook, or a connection SmartBot opens to it (no
    public URL needed; see channels/connect/). Switching is a restart."""

    mode: str = setting(WEBHOOK, choices=(WEBHOOK, CONNECT),
                        help='"webhook": the platform calls /webhooks/<channel>; "connect": SmartBot connects out '
                             "(long polling or a websocket), for servers with no public URL")


def connects(config: Any) -> bool:
    """Whether a channel's settings put it in connect mode."""
    return getattr(config, "mode", WEBHOOK) == CONNECT


@dataclass
class StreamingConfig:
    """The settings of a channel that can show a reply while the model writes it (a preview that
    grows, then the final reply). A channel streams when its config class has these; the others
    get every reply whole, when it is done."""

    stream: bool = setting(True, help="show the reply while the model writes it; false: only when done")
    stream_interval: float = setting(1.0, minimum=0.1, help="seconds between two updates of a reply being written")


@dataclass
class PlatformStreamingConfig(StreamingConfig):
    """A chat platform's stream settings: a platform also shows that the bot is writing."""

    typing: bool = setting(True, help="show that the bot is writing (where the platform has a typing indicator)")


class Channel(ABC):
    """Base class. Subclasses set `name`, `config_class` and implement verify/parse/send."""

    name = ""
    config_class: type = object
    accepts_webhooks = True           # False: messages arrive some other way (the web chat page)
    text_limit = 0                    # characters per message; 0 = no limit
    limit_in_bytes = False            # True: text_limit counts UTF-8 bytes (WeCom, DingTalk)
    supports_markdown = False

    def __init__(self, config: Any) -> None:
        self.config = config

    @abstractmethod
    def verify(self, req: WebRequest) -> None:
        """Raise SignatureError unless the request provably comes from the platform."""

    def single_use(self, req: WebRequest) -> SingleUse | None:
        """For a verified request whose signature does not cover its body: what the gateway must
        see only once with a given body. None (the default) when the signature covers the body."""
        return None

    def handshake(self, req: WebRequest) -> WebResponse | None:
        return None

    @abstractmethod
    def parse(self, req: WebRequest) -> list[InboundMessage]:
        """The messages in a verified request; [] for events that are not messages."""

    def settle(self, msg: InboundMessage) -> InboundMessage | None:
        """In the worker, before the message is routed: decide what `parse` left in `msg.unsettled`
        (deciding it needed a call to the platform). None: the message is not for this bot after all."""
        return msg

    def fetch(self, msg: InboundMessage, attachment: Attachment, limits: FetchLimits) -> bytes:
        """In the worker: the bytes of a file `msg` carries, from the platform's own file API through
        `api_base`, within `limits`; MediaRefused when it cannot be had. Never from a URL the message
        names unless that URL is on the platform's own file hosts."""
        raise MediaRefused("not_supported", f"files sent on {self.name} cannot be read yet")

    def acknowledge(self, req: WebRequest, accepted: list[InboundMessage], duplicates: int) -> WebResponse:
        status = "accepted" if accepted else ("duplicate" if duplicates else "ignored")
        return WebResponse(200, {"status": status})

    def split(self, reply: Reply) -> list[Reply]:
        parts = split_text(reply.text, self.text_limit, self.limit_in_bytes)
        if len(parts) == 1:
            return [reply]
        return [Reply(reply.channel, reply.chat_id, part, dict(reply.reply_context), reply.format,
                      reply.reply_to) for part in parts]

    @abstractmethod
    def send(self, reply: Reply) -> None:
        """Deliver one reply; raise DeliveryError (retryable or not) when it did not arrive."""

    def sends_here(self, reply: Reply) -> bool:
        """Whether this process can send `reply` now. A reply that only the process holding the
        platform's connection can send (WeCom's AI bot answers over its socket) says no elsewhere,
        and the outbox leaves it for that process (`holds_reply_connection`) to send."""
        return True

    def holds_reply_connection(self) -> bool:
        """Whether this process now holds the connection some of this channel's replies must go
        over (see `sends_here`): then it sends the replies other processes left for it."""
        return False

    # -- replies shown while the model writes them (pipeline/live.py drives these) -------------
    # A channel that can show a reply growing says so with `can_preview`, then posts it once
    # (`start_preview`, returning the platform's handle of what it posted), edits it (`update_preview`)
    # and turns it into the final reply (`finish_preview`, from the outbox). The handle is stored
    # with the reply, so a delivery in another process can finish it. `typing` shows that the bot
    # is working; it is renewed every `typing_interval` seconds (0: the platform has no such thing).
    typing_interval = 0.0
    previews_from_database = False    # True: a page reads the text so far from message_previews (web chat)

    def can_preview(self, reply: Reply) -> bool:
        """Whether this chat can be shown `reply` while it is written (default: no)."""
        return False

    def start_preview(self, reply: Reply) -> str:
        """Show the first text of a reply being written; the handle of what was posted."""
        raise DeliveryError(f"{self.name} cannot show replies being written", retryable=False)

    def update_preview(self, reply: Reply, handle: str) -> None:
        """Show the text so far in place of the previous one."""
        raise DeliveryError(f"{self.name} cannot show replies being written", retryable=False)

    def finish_preview(self, reply: Reply, handle: str) -> None:
        """Turn the preview into the final reply (a last edit, by default)."""
        self.update_preview(reply, handle)

    def typing(self, reply: Reply) -> None:
        """Show once that the bot is writing to this chat (renewed by the caller)."""

    def deliver(self, reply: Reply) -> None:
        """Send a reply from the outbox: the final edit of its preview when one was shown, else (or
        when the platform refuses that edit for good: deleted, too old) a message of its own."""
        if reply.preview:
            try:
                self.finish_preview(reply, reply.preview)
                return
            except DeliveryError as exc:
                if exc.retryable:
                    raise
                log.info("%s: the preview of reply %s could not be finished (%s); sending it anew", self.name,
                         reply.delivery_id, exc.reason)
        self.send(reply)

    def close(self) -> None:
        """Release pooled connections."""
