"""The response cache: answers to repeated requests, kept for a route's `cache_ttl` seconds.

Keyed on the normalised request: provider, model, messages (whitespace collapsed), max tokens,
temperature and tools, as a SHA-256 digest (the key holds no text). A request that carries a
conversation (an earlier answer, a tool result, more than one user turn) belongs to its user:
the user is then part of the key, so one user's history can never answer another user. Answers
that ask for tools are never cached (running the tools is the point). The answers live in a store:
this process's bounded memory by default, or Redis (shared_state.RedisStore) so every node shares
them.
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from typing import Any

from ..telemetry import metrics
from ..storage.shared_state import LocalStore
from .base import ModelRequest, ModelResponse, ProviderSpec, Usage


class ResponseCache:
    def __init__(self, max_entries: int = 1000, store: Any = None) -> None:
        self.max_entries = max_entries
        self._store = store if store is not None else LocalStore(max(max_entries, 1))
        self._lock = threading.Lock()
        self.hits = 0
        self.misses = 0

    def get(self, key: str, ttl: float) -> ModelResponse | None:
        raw = self._store.get(f"answer:{ttl:g}:{key}")
        if raw is None:
            return None
        data = json.loads(raw)
        return ModelResponse(**{**data, "usage": Usage(**data["usage"]), "tool_calls": []})

    def put(self, key: str, ttl: float, response: ModelResponse) -> None:
        if self.max_entries <= 0 or response.tool_calls:
            return
        data = dataclasses.asdict(response)
        self._store.set(f"answer:{ttl:g}:{key}", json.dumps(data, ensure_ascii=False).encode("utf-8"), ttl)

    def lookup(self, specs: list[ProviderSpec], request: ModelRequest, ttl: float) -> ModelResponse | None:
        """The cached answer of the first provider in `specs` that has one; counts a hit or a miss."""
        for spec in specs:
            found = self.get(request_key(spec, request), ttl)
            if found is not None:
                self._count("hit")
                return dataclasses.replace(found, cached=True, usage=Usage(), cost=0.0, latency=0.0, attempts=0)
        self._count("miss")
        return None

    def _count(self, result: str) -> None:
        with self._lock:
            if result == "hit":
                self.hits += 1
            else:
                self.misses += 1
        metrics.count("model_cache_total", result=result)



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
    if message.get("images"):
        out["images"] = [hashlib.sha256(image.data).hexdigest() for image in message["images"]]
    if message.get("tool_calls"):
        out["tool_calls"] = [dataclasses.asdict(c) for c in message["tool_calls"]]
    return out
