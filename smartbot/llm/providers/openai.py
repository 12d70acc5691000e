"""OpenAI-compatible chat completions (OpenAI, DeepSeek, Qwen, Moonshot, Zhipu, vLLM, llama.cpp,
Ollama's /v1): POST {base_url}/chat/completions."""
from __future__ import annotations

import time
from typing import Any

from ...errors import ProviderError
from ..base import ModelRequest, ModelResponse, Provider, ProviderSpec, Usage
from . import http


class OpenAIProvider(Provider):
    kind = "openai"

    def __init__(self, spec: ProviderSpec, api_key: str, pool_size: int) -> None:
        super().__init__(spec, api_key, pool_size)
        headers = {"Content-Type": "application/json", **dict(spec.headers)}
        if api_key:
            headers["Authorization"] = f"Bearer {api_key}"
        self._session = http.session(pool_size, headers)
        self._url = spec.base_url.rstrip("/") + "/chat/completions"

    def complete(self, request: ModelRequest, timeout: tuple[float, float]) -> ModelResponse:
        spec = self.spec
        payload: dict[str, Any] = {
            "model": spec.model,
            "messages": request.messages,
            "max_tokens": request.max_tokens or spec.max_tokens,
            "temperature": spec.temperature if request.temperature is None else request.temperature,
        }
        started = time.monotonic()
        data = http.post_json(self._session, spec.name, self._url, payload, timeout)
        return self._parse(data, time.monotonic() - started)

    def _parse(self, data: Any, latency: float) -> ModelResponse:
        name = self.spec.name
        try:
            choice = data["choices"][0]
            message = choice["message"]
            text = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise ProviderError("answer lacks choices[0].message", "malformed", retryable=False,
                                provider=name) from None
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise ProviderError("message content is not text", "malformed", retryable=False, provider=name)
        usage = data.get("usage") if isinstance(data, dict) else None
        usage = usage if isinstance(usage, dict) else {}
        return ModelResponse(
            text=text, provider=name, model=str(data.get("model") or self.spec.model),
            usage=Usage(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))),
            finish_reason=str(choice.get("finish_reason") or ""), latency=latency)

    def close(self) -> None:
        self._session.close()


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
