"""Reading a model's answer off the wire within its caps: whole (for complete()) or line by line
as it arrives (server-sent events, NDJSON), for a kind's StreamParser to turn into text pieces.

Both ways share the same two caps, so a broken or hostile server costs a bounded amount whatever
it sends: more than `answer_limit(max_tokens)` bytes is a malformed answer, and an answer still
arriving at the call's deadline is a timeout (the read timeout alone would let a server that sends
a byte every few seconds hold a worker forever). Every failure while reading leaves here as a
ProviderError; nothing above sees urllib3's or requests' exceptions.
"""
from __future__ import annotations

import http.client
import json
import logging
import time
from abc import ABC, abstractmethod
from typing import Any, Iterable, Iterator

import requests
import urllib3

from ...errors import ProviderError
from ..base import ModelRequest, ModelResponse, ToolCall, Usage

log = logging.getLogger(__name__)

READ_BYTES = 65536
BYTES_PER_TOKEN = 1024
MIN_ANSWER_BYTES = 1 << 20


def answer_limit(max_tokens: int) -> int:
    """The most bytes an answer of `max_tokens` tokens may take on the wire. Streamed, every token
    comes in its own JSON event of a few hundred bytes; the limit leaves room for that and stops
    long before a runaway answer could hurt the process."""
    return max(MIN_ANSWER_BYTES, max_tokens * BYTES_PER_TOKEN)


def chunks(resp: requests.Response, provider: str, limit: int, deadline: float) -> Iterator[bytes]:
    """The body as it arrives, decompressed: each read returns what the network has delivered (one
    chunk of a chunked answer), never waiting for a buffer to fill, so a stream's first token is
    seen at once. The limit counts decompressed bytes: a small compressed answer may not unpack
    into a large one."""
    size = 0
    while True:
        try:
            data = resp.raw.read1(READ_BYTES, decode_content=True)
        except (urllib3.exceptions.HTTPError, http.client.HTTPException, OSError) as exc:
            raise _broken(provider, exc) from None
        if not data:
            return
        size += len(data)
        if size > limit:
            raise ProviderError(f"the answer is larger than {limit} bytes", "malformed", retryable=False,
                                provider=provider)
        if time.monotonic() > deadline:
            raise ProviderError("the answer was still arriving at the deadline", "timeout", retryable=True,
                                provider=provider)
        yield data


def read_all(resp: requests.Response, provider: str, limit: int, deadline: float) -> bytes:
    return b"".join(chunks(resp, provider, limit, deadline))


def lines(resp: requests.Response, provider: str, limit: int, deadline: float) -> Iterator[str]:
    """The body's lines as they complete (without their line ends), the last one even unterminated."""
    pending: list[bytes] = []
    for data in chunks(resp, provider, limit, deadline):
        *complete, rest = data.split(b"\n")
        for raw in complete:
            if pending:
                raw, pending = b"".join(pending) + raw, []
            yield _text(raw.rstrip(b"\r"), provider)
        if rest:
            pending.append(rest)
    if pending:
        yield _text(b"".join(pending).rstrip(b"\r"), provider)


def sse_events(source: Iterable[str]) -> Iterator[tuple[str, str]]:
    """(event name, data) of each server-sent event: its `data:` lines joined with newlines, its
    `event:` name or "message". Comments, `id:`, `retry:` and lines of no known field are skipped,
    as the SSE standard says."""
    event, data = "", []
    for line in source:
        if not line:
            if data:
                yield event or "message", "\n".join(data)
            event, data = "", []
            continue
        name, _, value = line.partition(":")
        value = value[1:] if value.startswith(" ") else value
        if name == "data":
            data.append(value)
        elif name == "event":
            event = value
    if data:
        yield event or "message", "\n".join(data)


def decode_json(raw: str | bytes, provider: str) -> Any:
    try:
        return json.loads(raw)
    except (ValueError, RecursionError):
        raise ProviderError("answer is not JSON", "malformed", retryable=False, provider=provider) from None


def is_whole_json(resp: requests.Response) -> bool:
    """Whether a server asked to stream answered in one JSON piece instead (it ignored `stream`)."""
    return resp.headers.get("Content-Type", "").split(";")[0].strip().lower() == "application/json"


def _text(raw: bytes, provider: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ProviderError("the answer is not UTF-8 text", "malformed", retryable=False, provider=provider) from None


def _broken(provider: str, exc: Exception) -> ProviderError:
    if isinstance(exc, urllib3.exceptions.ReadTimeoutError):
        return ProviderError("timed out while the answer was arriving", "timeout", retryable=True, provider=provider)
    return ProviderError(f"the answer broke off ({type(exc).__name__})", "unavailable", retryable=True,
                         provider=provider)


def stream_error(provider: str, detail: Any) -> ProviderError:
    """An error the server sent inside its stream. Its words go to the server log only (as with
    any refusal, see http.py); the reason is ours."""
    log.warning("provider %s sent an error in its stream: %r", provider, str(detail)[:200])
    return ProviderError("the answer carried an error", "server", retryable=True, provider=provider)


def cut_short(provider: str) -> ProviderError:
    return ProviderError("the answer ended before it was complete", "unavailable", retryable=True,
                         provider=provider)


class StreamParser(ABC):
    """One streamed answer: `pieces()` yields its text as it comes, then `response()` is the answer
    complete() would have given. `finished` turns true at the stream's own end marker; a stream
    that stops before it was cut short, and `pieces()` raises."""

    def __init__(self, provider: str, model: str) -> None:
        self.provider = provider
        self.model = model
        self.texts: list[str] = []
        self.usage: Usage | None = None         # None: the API did not say
        self.finish_reason = ""
        self.finished = False

    @abstractmethod
    def pieces(self, source: Iterator[str]) -> Iterator[str]:
        """The text pieces in the lines of `source`; ProviderError when the stream is not the API's."""

    def tool_calls(self) -> list[ToolCall]:
        return []

    def response(self, request: ModelRequest, latency: float) -> ModelResponse:
        text = "".join(self.texts)
        return ModelResponse(text=text, provider=self.provider, model=self.model,
                             usage=self.usage if self.usage is not None else Usage.estimated(request, text),
                             finish_reason=self.finish_reason, latency=latency, tool_calls=self.tool_calls())

    def text(self, piece: Any) -> str:
        """A piece of text from an event, kept; malformed when the event holds something else there."""
        if piece is None:
            return ""
        if not isinstance(piece, str):
            raise ProviderError("a piece of the answer is not text", "malformed", retryable=False,
                                provider=self.provider)
        if piece:
            self.texts.append(piece)
        return piece

    def event(self, raw: str) -> dict[str, Any]:
        data = decode_json(raw, self.provider)
        if not isinstance(data, dict):
            raise ProviderError("a streamed event is not a JSON object", "malformed", retryable=False,
                                provider=self.provider)
        return data
