"""The model service: pick the provider chain, call with retries inside a deadline, fall back.

One retry layer (this one; HTTP clients never retry by themselves). Retryable failures (timeouts,
429, 5xx, connection errors) are retried on the same provider with exponential backoff and full
jitter, honouring Retry-After, as long as the provider's total deadline allows; then the next
provider in the chain is tried, whatever the failure was.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Callable, Mapping, Sequence

from ..errors import ProviderError
from ..ops import metrics
from .base import ModelRequest, ModelResponse, Provider, ProviderSpec
from .providers import KINDS

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0


class NoProviderConfigured(ProviderError):
    def __init__(self) -> None:
        super().__init__("no model provider is configured", "unconfigured", retryable=False)


class ModelService:
    def __init__(self, env: Mapping[str, str], pool_size: int = 32,
                 sleep: Callable[[float], None] = time.sleep) -> None:
        self._env = env
        self._pool_size = pool_size
        self._sleep = sleep
        self._lock = threading.Lock()
        self._clients: dict[ProviderSpec, Provider] = {}

    def client(self, spec: ProviderSpec) -> Provider:
        """One pooled client per provider spec; a changed spec gets a fresh client."""
        client = self._clients.get(spec)
        if client is not None:
            return client
        with self._lock:
            client = self._clients.get(spec)
            if client is None:
                for old in [s for s in self._clients if s.name == spec.name]:
                    self._clients.pop(old).close()
                kind = KINDS.get(spec.kind)
                if kind is None:
                    raise ProviderError(f"unknown provider kind {spec.kind!r}", "client", retryable=False,
                                        provider=spec.name)
                client = kind(spec, self._env.get(spec.api_key_env, "") if spec.api_key_env else "",
                              self._pool_size)
                self._clients[spec] = client
        return client

    def complete(self, request: ModelRequest, chain: Sequence[ProviderSpec]) -> ModelResponse:
        """Answer from the first provider in `chain` that can; the last error if none can."""
        if not chain:
            raise NoProviderConfigured()
        last: ProviderError | None = None
        for spec in chain:
            started = time.monotonic()
            try:
                response = self._call_with_retries(spec, request)
            except ProviderError as exc:
                metrics.count("model_calls_total", provider=spec.name, result=exc.kind)
                last = exc
                log.warning("provider %s failed (%s: %s); %s", spec.name, exc.kind, exc.reason,
                            "trying the next one" if spec is not chain[-1] else "no more providers")
                continue
            metrics.count("model_calls_total", provider=spec.name, result="ok")
            metrics.observe("model_seconds", time.monotonic() - started, provider=spec.name)
            metrics.count("model_tokens_total", response.usage.prompt_tokens, provider=spec.name, kind="prompt")
            metrics.count("model_tokens_total", response.usage.completion_tokens, provider=spec.name,
                          kind="completion")
            return response
        assert last is not None
        raise last

    def _call_with_retries(self, spec: ProviderSpec, request: ModelRequest) -> ModelResponse:
        client = self.client(spec)
        deadline = time.monotonic() + spec.total_timeout
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError("total deadline exceeded", "timeout", retryable=True, provider=spec.name)
            timeout = (min(spec.connect_timeout, remaining), min(spec.read_timeout, remaining))
            try:
                response = client.complete(request, timeout)
                response.attempts = attempt
                return response
            except ProviderError as exc:
                exc.provider = exc.provider or spec.name
                if not exc.retryable or attempt > spec.max_retries:
                    raise
                delay = backoff_delay(attempt, exc.retry_after)
                if time.monotonic() + delay >= deadline:
                    raise
                log.info("provider %s: %s, retry %d in %.2fs", spec.name, exc.reason, attempt, delay)
                self._sleep(delay)

    def close(self) -> None:
        with self._lock:
            for client in self._clients.values():
                client.close()
            self._clients.clear()


def backoff_delay(attempt: int, retry_after: float | None = None) -> float:
    """Full-jitter exponential backoff, never shorter than the server's Retry-After."""
    delay = random.uniform(0, min(BACKOFF_CAP, BACKOFF_BASE * (2 ** attempt)))
    if retry_after is not None:
        delay = max(delay, retry_after)
    return delay
