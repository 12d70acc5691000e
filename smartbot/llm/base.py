"""The provider interface and the plain data that crosses it."""
from __future__ import annotations

from abc import ABC, abstractmethod
from dataclasses import dataclass, field
from typing import Any


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


@dataclass
class ModelRequest:
    messages: list[dict[str, Any]]          # [{"role": "system"|"user"|"assistant", "content": str}]
    max_tokens: int | None = None
    temperature: float | None = None
    user: str = ""                          # who asked (for accounting, never sent as a secret)


@dataclass
class Usage:
    prompt_tokens: int = 0
    completion_tokens: int = 0

    @property
    def total(self) -> int:
        return self.prompt_tokens + self.completion_tokens


@dataclass
class ModelResponse:
    text: str
    provider: str
    model: str
    usage: Usage = field(default_factory=Usage)
    finish_reason: str = ""
    latency: float = 0.0
    attempts: int = 1


class Provider(ABC):
    """One API kind. `complete()` makes exactly one HTTP call; retries live in the service."""

    kind = ""

    def __init__(self, spec: ProviderSpec, api_key: str, pool_size: int) -> None:
        self.spec = spec
        self.api_key = api_key
        self.pool_size = pool_size

    @abstractmethod
    def complete(self, request: ModelRequest, timeout: tuple[float, float]) -> ModelResponse:
        """Call the API once; raise ProviderError on any failure."""

    def close(self) -> None:
        """Release pooled connections."""
