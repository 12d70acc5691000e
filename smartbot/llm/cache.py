"""The response cache: answers to repeated requests, kept for a route's `cache_ttl` seconds.

Keyed on the normalised request: provider, model, messages (whitespace collapsed), max tokens,
temperature and tools, as a SHA-256 digest (the key holds no text). A request that carries a
conversation (an earlier answer, a tool result, more than one user turn) belongs to its user:
the user is then part of the key, so one user's history can never answer another user. Answers
that ask for tools are never cached (running the tools is the point). Bounded: each TTL bucket is
a cachetools TTLCache of at most `max_entries` entries.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from typing import Any

from cachetools import TTLCache

from ..ops import metrics
from .base import ModelRequest, ModelResponse, ProviderSpec, Usage


class ResponseCache:
    def __init__(self, max_entries: int = 1000) -> None:
        self.max_entries = max_entries
        self._lock = threading.Lock()
        self._buckets: dict[float, TTLCache] = {}
        self.hits = 0
        self.misses = 0

    def get(self, key: str, ttl: float) -> ModelResponse | None:
        with self._lock:
            bucket = self._buckets.get(ttl)
            return None if bucket is None else bucket.get(key)

    def put(self, key: str, ttl: float, response: ModelResponse) -> None:
        if self.max_entries <= 0 or response.tool_calls:
            return
        with self._lock:
            bucket = self._buckets.get(ttl)
            if bucket is None:
                bucket = self._buckets[ttl] = TTLCache(maxsize=self.max_entries, ttl=ttl)
            bucket[key] = response

    def lookup(self, specs: list[ProviderSpec], request: ModelRequest, ttl: float) -> ModelResponse | None:
        """The cached answer of the first provider in `specs` that has one; counts a hit or a miss."""
        for spec in specs:
            found = self.get(request_key(spec, request), ttl)
            if found is not None:
                self._count("hit")
                return dataclasses.replace(found, cached=True, usage=Usage(), latency=0.0, attempts=0)
        self._count("miss")
        return None

    def _count(self, result: str) -> None:
        with self._lock:
            if result == "hit":
                self.hits += 1
            else:
                self.misses += 1
        metrics.count("model_cache_total", result=result)

    def size(self) -> int:
        with self._lock:
            return sum(len(b) for b in self._buckets.values())

    def clear(self) -> None:
        with self._lock:
            self._buckets.clear()


def carries_history(request: ModelRequest) -> bool:
    roles = [m.get("role") for m in request.messages]
    return "assistant" in roles or "tool" in roles or roles.count("user") > 1


def request_key(spec: ProviderSpec, request: ModelRequest) -> str:
    body = {
        "provider": spec.name,
        "model": spec.model,
        "messages": [_normalised(m) for m in request.messages],
        "max_tokens": request.max_tokens or spec.max_tokens,
        "temperature": spec.temperature if request.temperature is None else request.temperature,
        "tools": [dataclasses.asdict(t) for t in request.tools],
        "user": request.user if carries_history(request) else "",
    }
    text = json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def _normalised(message: dict[str, Any]) -> dict[str, Any]:
    out = {k: v for k, v in message.items() if k != "content"}
    out["content"] = " ".join(str(message.get("content") or "").split())
    if message.get("tool_calls"):
        out["tool_calls"] = [dataclasses.asdict(c) for c in message["tool_calls"]]
    return out
