"""The model service: call a provider chain with retries inside a deadline, breakers and a cache.

One retry layer (this one; HTTP clients never retry by themselves). Retryable failures (timeouts,
429, 5xx, connection errors) are retried on the same provider with exponential backoff and full
jitter, honouring Retry-After, as long as the provider's total deadline allows and its circuit
stays closed; then the next provider in the chain is tried, whatever the failure was. A provider
whose circuit is open is skipped without a call. 4xx client errors are never retried.

A streamed answer (`stream`) follows the same path until its first piece of text has been handed
on: after that, a failure ends the answer (StreamBroken), because the reader has seen that text
and another try would write a different one. A cached answer is handed back whole, not streamed.

Every answer carries what it spent (`ModelResponse.usage` and `cost`); the caller records it
with whatever it stores (this package has no database). Announcements for the rest of SmartBot
(no alerting here either): `on_provider_down(name, reason)`, `on_provider_up(name)` when a
circuit opens or closes.
"""
from __future__ import annotations

import logging
import random
import threading
import time
from typing import Any, Callable, Mapping, Sequence

from ..errors import ProviderError
from ..telemetry import metrics
from .base import ModelRequest, ModelResponse, Provider, ProviderSpec, TextSink, for_provider
from .breaker import CLOSED, HALF_OPEN, BreakerBoard, BreakerPolicy, BreakerState
from .cache import ResponseCache, request_key
from .keys import KeyRules, withheld_reason
from .providers import KINDS
from .providers.openai import OpenAIProvider
from .signals import Signal

log = logging.getLogger(__name__)

BACKOFF_BASE = 0.25
BACKOFF_CAP = 8.0
PROBE_READ_TIMEOUT = 10.0
# Failures that say nothing about the provider's health: the request itself was refused.
NOT_THE_PROVIDERS_FAULT = ("client",)


class NoProviderConfigured(ProviderError):
    def __init__(self) -> None:
        super().__init__("no model provider is configured", "unconfigured", retryable=False)


class ChainFailed(ProviderError):
    """Every provider of the chain failed or was skipped (circuit open). `kind`, `reason` and
    `provider` are the last failure's; `failures` has them all, in chain order."""

    def __init__(self, failures: list[ProviderError]) -> None:
        last = failures[-1]
        super().__init__(last.reason, last.kind, retryable=False, retry_after=last.retry_after,
                         provider=last.provider)
        self.failures = failures

    @property
    def every_model_down(self) -> bool:
        """More than one provider tried, or the only one skipped: the user should hear that none works."""
        return len(self.failures) > 1 or self.kind == "circuit_open"

    def summary(self) -> list[dict[str, str]]:
        return [{"provider": f.provider, "kind": f.kind, "reason": f.reason} for f in self.failures]


class StreamBroken(ProviderError):
    """A streamed answer failed after some of its text had been handed on: not retried, no other
    provider tried. Carries the failure's kind, reason and provider."""

    def __init__(self, failure: ProviderError) -> None:
        super().__init__(failure.reason, failure.kind, retryable=False, provider=failure.provider)


class _Relay:
    """Hands text on to the caller's sink and notes whether any has gone."""

    def __init__(self, sink: TextSink) -> None:
        self._sink = sink
        self.started = False

    def __call__(self, piece: str) -> None:
        self.started = True
        self._sink(piece)


class ModelService:
    def __init__(self, env: Mapping[str, str], pool_size: int = 32,
                 sleep: Callable[[float], None] = time.sleep, breaker: BreakerPolicy | None = None,
                 cache_entries: int = 1000, cache_store: Any = None, key_rules: KeyRules | None = None) -> None:
        self._env = env
        self.key_rules = key_rules or KeyRules()
        self._pool_size = pool_size
        self._sleep = sleep
        self._lock = threading.Lock()
        self._clients: dict[ProviderSpec, Provider] = {}
        self.breakers = BreakerBoard(breaker or BreakerPolicy())
        self.cache = ResponseCache(cache_entries, cache_store)
        self.on_provider_down: Signal = self.breakers.on_down
        self.on_provider_up: Signal = self.breakers.on_up

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
                client = kind(spec, self._key(spec), self._pool_size)
                self._clients[spec] = client
        return client

    def _key(self, spec: ProviderSpec) -> str:
        """The key `spec`'s calls carry; a ProviderError, before anything is sent, when the rules
        of keys.py withhold it (a variable not the provider's own, an origin not confirmed)."""
        reason = self.key_withheld(spec)
        if reason:
            raise ProviderError(reason, "key_withheld", retryable=False, provider=spec.name)
        return self._env.get(spec.api_key_env, "") if spec.api_key_env else ""

    def key_withheld(self, spec: ProviderSpec) -> str:
        """Why `spec`'s key is not sent ("" when it is): shown beside the provider in the admin page."""
        return withheld_reason(spec, self.key_rules)

    def complete(self, request: ModelRequest, chain: Sequence[ProviderSpec], cache_ttl: float = 0.0) -> ModelResponse:
        """Answer from the cache (when `cache_ttl` > 0) or the first provider in `chain` that can;
        ChainFailed when none can."""
        return self._answer(request, chain, cache_ttl, None)

    def stream(self, request: ModelRequest, chain: Sequence[ProviderSpec], on_text: TextSink,
               cache_ttl: float = 0.0) -> ModelResponse:
        """Like complete(), handing the text to `on_text` piece by piece as the model writes it;
        the answer returned is the whole one. StreamBroken when it failed after text had gone."""
        return self._answer(request, chain, cache_ttl, _Relay(on_text))

    def _answer(self, request: ModelRequest, chain: Sequence[ProviderSpec], cache_ttl: float,
                relay: _Relay | None) -> ModelResponse:
        if not chain:
            raise NoProviderConfigured()
        if cache_ttl > 0:
            cached = self.cache.lookup(list(chain), request, cache_ttl)
            if cached is not None:
                return cached
        failures: list[ProviderError] = []
        for spec in chain:
            if not self.breakers.get(spec.name).allow():
                failures.append(ProviderError("circuit open after repeated failures", "circuit_open",
                                              retryable=False, provider=spec.name))
                continue
            try:
                response = self._call_with_retries(spec, request, relay)
            except StreamBroken:
                raise
            except ProviderError as exc:
                failures.append(exc)
                log.warning("provider %s failed (%s: %s); %s", spec.name, exc.kind, exc.reason,
                            "trying the next one" if spec is not chain[-1] else "no more providers")
                continue
            if cache_ttl > 0:
                self.cache.put(request_key(spec, request), cache_ttl, response)
            return response
        raise ChainFailed(failures)

    def _call_with_retries(self, spec: ProviderSpec, request: ModelRequest, relay: _Relay | None) -> ModelResponse:
        client = self.client(spec)
        breaker = self.breakers.get(spec.name)
        request = for_provider(spec, request)
        deadline = time.monotonic() + spec.total_timeout
        attempt = 0
        while True:
            attempt += 1
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise ProviderError("total deadline exceeded", "timeout", retryable=True, provider=spec.name)
            timeout = (min(spec.connect_timeout, remaining), min(spec.read_timeout, remaining))
            started = time.monotonic()
            try:
                if relay is None:
                    response = client.complete(request, timeout, deadline)
                else:
                    response = client.stream(request, timeout, relay, deadline)
            except ProviderError as exc:
                exc.provider = exc.provider or spec.name
                self._failed(spec.name, exc, time.monotonic() - started)
                if relay is not None and relay.started:
                    raise StreamBroken(exc) from exc
                if not exc.retryable or attempt > spec.max_retries or breaker.state != CLOSED:
                    raise
                delay = backoff_delay(attempt, exc.retry_after)
                if time.monotonic() + delay >= deadline:
                    raise
                log.info("provider %s: %s, retry %d in %.2fs", spec.name, exc.reason, attempt, delay)
                self._sleep(delay)
                continue
            self._answered(spec, time.monotonic() - started, response)
            response.attempts = attempt
            return response

    def transcribe(self, spec: ProviderSpec, model: str, audio: bytes, filename: str, mime: str) -> str:
        """Speech to text through `spec`'s OpenAI-compatible /audio/transcriptions, once, within the
        provider's timeouts; ProviderError on any failure (counted like a failed call)."""
        client = self.client(spec)
        if not isinstance(client, OpenAIProvider):
            raise ProviderError("speech needs an OpenAI-compatible provider (kind openai)", "client",
                                retryable=False, provider=spec.name)
        if not self.breakers.get(spec.name).allow():
            raise ProviderError("circuit open after repeated failures", "circuit_open", retryable=False,
                                provider=spec.name)
        started = time.monotonic()
        try:
            text = client.transcribe(model, audio, filename, mime, (spec.connect_timeout, spec.read_timeout),
                                     started + spec.total_timeout)
        except ProviderError as exc:
            self._failed(spec.name, exc, time.monotonic() - started)
            raise
        metrics.count("model_calls_total", provider=spec.name, result="ok")
        self.breakers.success(spec.name)
        return text

    def _answered(self, spec: ProviderSpec, seconds: float, response: ModelResponse) -> None:
        name = spec.name
        response.cost = spec.cost_of(response.usage)
        metrics.count("model_calls_total", provider=name, result="ok")
        metrics.observe("model_call_seconds", seconds, provider=name)
        metrics.count("model_tokens_total", response.usage.prompt_tokens, provider=name, kind="prompt")
        metrics.count("model_tokens_total", response.usage.completion_tokens, provider=name, kind="completion")
        self.breakers.success(name)

    def _failed(self, name: str, exc: ProviderError, seconds: float) -> None:
        metrics.count("model_calls_total", provider=name, result=exc.kind)
        metrics.observe("model_call_seconds", seconds, provider=name)
        if exc.kind not in NOT_THE_PROVIDERS_FAULT:
            self.breakers.failure(name, f"{exc.kind}: {exc.reason}")

    # -- health and tests -------------------------------------------------------------------
    def check_health(self, spec: ProviderSpec) -> str:
        """Probe one provider without spending tokens, unless its circuit is cooling down.

        A failed probe counts like a failed call. A good probe closes a circuit it was the
        half-open probe of (a recovered provider comes back without waiting for a user), but
        never wipes out failures of real calls: an API can list its models while its completions
        fail. Returns the circuit's state afterwards."""
        breaker = self.breakers.get(spec.name)
        if not breaker.allow():
            return breaker.state
        try:
            self.client(spec).probe((spec.connect_timeout, min(spec.read_timeout, PROBE_READ_TIMEOUT)))
        except ProviderError as exc:
            if exc.kind not in NOT_THE_PROVIDERS_FAULT:
                self.breakers.failure(spec.name, f"health check: {exc.kind}: {exc.reason}")
        else:
            if breaker.state == HALF_OPEN:
                self.breakers.success(spec.name)
        return breaker.state

    def try_provider(self, spec: ProviderSpec, user: str) -> ModelResponse:
        """One real, one-token completion with no retries, breaker or cache: does this provider's
        URL, key and model work? Raises ProviderError with the reason when not."""
        request = ModelRequest([{"role": "user", "content": "ping"}], max_tokens=1, user=user)
        timeout = (spec.connect_timeout, min(spec.read_timeout, spec.total_timeout))
        response = self.client(spec).complete(request, timeout)
        response.cost = spec.cost_of(response.usage)
        return response

    def key_is_set(self, env_name: str) -> bool:
        """Whether the named variable holds a key (the admin page shows this, never the key)."""
        return bool(env_name) and bool(self._env.get(env_name))

    def states(self) -> dict[str, BreakerState]:
        return self.breakers.states()

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
