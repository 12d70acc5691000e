"""The provider interface and the plain data that crosses it."""
from __future__ import annotations

import base64
import dataclasses
from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any, Callable

TextSink = Callable[[str], None]    # takes each piece of an answer's text as the model writes it


@dataclass(frozen=True)
class ProviderSpec:
    """Everything needed to call one provider. The API key is looked up by env var name per call."""

    name: str
    kind: str
    base_url: str
    model: str
    api_key_env: str = ""
    connect_timeout: float = 5.0
    read_timeout: float = 60.0
    total_timeout: float = 90.0
    max_retries: int = 2
    max_tokens: int = 1024
    temperature: float = 0.7
    headers: tuple[tuple[str, str], ...] = ()
    prompt_price_per_1k: float = 0.0        # for cost accounting only; 0 = not priced
    completion_price_per_1k: float = 0.0
    key_origin: str = ""                    # scheme://host:port the key was confirmed for (see keys.py)
    from_file: bool = False                 # a [[providers]] entry of smartbot.toml, not made at run time
    vision: bool = False                    # the model reads images (they go as image parts)

    def cost_of(self, usage: Usage) -> float:
        """What `usage` cost at this provider's prices (0 when it is not priced)."""
        return (usage.prompt_tokens * self.prompt_price_per_1k
                + usage.completion_tokens * self.completion_price_per_1k) / 1000.0


@dataclass(frozen=True)
class ToolSpec:
    """A tool the model may call: a name, what it does, and its arguments as a JSON Schema object."""

    name: str
    description: str
    parameters: dict[str, Any] = field(default_factory=lambda: {"type": "object", "properties": {}})


@dataclass(frozen=True)
class ToolCall:
    """A call the model asked for. `arguments` is {} when the model sent arguments that are not a
    JSON object; `raw_arguments` keeps what it sent, so the caller can refuse with a reason."""

    id: str
    name: str
    arguments: dict[str, Any] = field(default_factory=dict)
    raw_arguments: str = ""


# Messages in a ModelRequest use one provider-neutral shape; each provider module converts it:
#   {"role": "system" | "user" | "assistant", "content": str}
#   {"role": "assistant", "content": str, "tool_calls": [ToolCall, ...]}   the model asked for tools
#   {"role": "tool", "tool_call_id": str, "name": str, "content": str}   a tool's result
#   {"role": "user", "content": str, "images": [Image, ...]}   images the user sent (vision providers)


@dataclass(frozen=True)
class Image:
    """An image for the model: checked bytes (their type was read from the bytes, not believed)."""

    mime: str
    data: bytes

    def base64(self) -> str:
        return base64.b64encode(self.data).decode("ascii")

    def data_url(self) -> str:
        return f"data:{self.mime};base64,{self.base64()}"


@dataclass
class ModelRequest:
    messages: list[dict[str, Any]]
    max_tokens: int | None = None
    temperature: float | None = None
    user: str = ""                          # who asked (for accounting, never sent as a secret)
    tools: list[ToolSpec] = field(default_factory=list)


IMAGE_NOTE = "[The user sent an image here; this model cannot see images.]"


def for_provider(spec: ProviderSpec, request: ModelRequest) -> ModelRequest:
    """The request as `spec` can take it: a provider without `vision` gets, in place of each
    message's images, a short note saying an image was there (a fallback in a chain may not see)."""
    if spec.vision or not any(m.get("images") for m in request.messages):
        return request
    messages = []
    for message in request.messages:
        if message.get("images"):
            message = {k: v for k, v in message.items() if k != "images"}
            message["content"] = f"{message.get('content') or ''}\n{IMAGE_NOTE}".strip()
        messages.append(message)
    return dataclasses.replace(request, messages=messages)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens

    @classmethod
    def estimated(cls, request: ModelRequest, text: str) -> Usage:
        """What a call probably spent, for an API that did not say (quotas must still count it)."""
        prompt = sum(estimate_tokens(str(m.get("content") or "")) for m in request.messages)
        return cls(prompt, estimate_tokens(text))


def estimate_tokens(text: str) -> int:
    """A cheap, provider-neutral estimate: ~4 ASCII characters per token, 1 token per other character."""
    ascii_chars = sum(1 for ch in text if ord(ch) < 128)
    return ascii_chars // 4 + (len(text) - ascii_chars) + 1


@dataclass
class ModelResponse:
    """One answer, with what it spent: the caller records the usage (this package stores nothing)."""

    text: str
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    cost: float = 0.0                       # at the provider's prices; 0 when not priced or cached
    finish_reason: str = ""
    latency: float = 0.0
    attempts: int = 1
    tool_calls: list[ToolCall] = field(default_factory=list)
    cached: bool = False                    # answered from the response cache: no call, no tokens spent


class Provider(ABC):
    """One API kind. `complete()` and `stream()` make exactly one call; retries live in the service.

    `deadline` (a `time.monotonic()` value) bounds the whole call, reading the answer included:
    an answer still arriving then is a timeout, however steadily the server sends it.
    """

    kind = ""

    def __init__(self, spec: ProviderSpec, api_key: str, pool_size: int) -> None:
        self.spec = spec
        self.api_key = api_key
        self.pool_size = pool_size

    @abstractmethod
    def complete(self, request: ModelRequest, timeout: tuple[float, float],
                 deadline: float | None = None) -> ModelResponse:
        """Call the API once; raise ProviderError on any failure."""

    def stream(self, request: ModelRequest, timeout: tuple[float, float], on_text: TextSink,
               deadline: float | None = None) -> ModelResponse:
        """Like complete(), handing each piece of the text to `on_text` as the model writes it; the
        answer returned is the whole of it, as complete() gives it. A kind that cannot stream hands
        the text on in one piece."""
        response = self.complete(request, timeout, deadline)
        if response.text:
            on_text(response.text)
        return response

    @abstractmethod
    def probe(self, timeout: tuple[float, float]) -> None:
        """One cheap request that spends no tokens (health checks); raise ProviderError if the API
        does not answer, refuses the key, or fails on its side."""

    @abstractmethod
    def models(self, timeout: tuple[float, float]) -> list[str]:
        """The model names the API lists (`smartbot check-config --online`): strict where probe()
        is lenient, any answer but a 2xx list of models is a ProviderError."""

    def close(self) -> None:
        """Release pooled connections."""
