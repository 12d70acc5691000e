"""OpenAI-compatible chat completions (OpenAI, DeepSeek, Qwen, Moonshot, Zhipu, vLLM, llama.cpp,
Ollama's /v1): POST {base_url}/chat/completions."""
from __future__ import annotations

import json
import time
from typing import Any

from ...errors import ProviderError
from ..base import ModelRequest, ModelResponse, Provider, ProviderSpec, ToolCall, ToolSpec, Usage
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
            "messages": [_wire_message(m) for m in request.messages],
            "max_tokens": request.max_tokens or spec.max_tokens,
            "temperature": spec.temperature if request.temperature is None else request.temperature,
        }
        if request.tools:
            payload["tools"] = [_wire_tool(t) for t in request.tools]
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
        calls = _tool_calls(message.get("tool_calls"), name)
        usage = data.get("usage") if isinstance(data, dict) else None
        usage = usage if isinstance(usage, dict) else {}
        return ModelResponse(
            text=text, provider=name, model=str(data.get("model") or self.spec.model),
            usage=Usage(_int(usage.get("prompt_tokens")), _int(usage.get("completion_tokens"))),
            finish_reason=str(choice.get("finish_reason") or ""), latency=latency, tool_calls=calls)

    def close(self) -> None:
        self._session.close()


def _wire_tool(tool: ToolSpec) -> dict[str, Any]:
    return {"type": "function",
            "function": {"name": tool.name, "description": tool.description, "parameters": tool.parameters}}


def _wire_message(message: dict[str, Any]) -> dict[str, Any]:
    """Our neutral message shape -> OpenAI's (tool calls carry their arguments as a JSON string)."""
    if message.get("role") == "tool":
        return {"role": "tool", "tool_call_id": message["tool_call_id"], "content": message.get("content", "")}
    calls = message.get("tool_calls")
    if message.get("role") == "assistant" and calls:
        return {"role": "assistant", "content": message.get("content") or None,
                "tool_calls": [{"id": c.id, "type": "function",
                                "function": {"name": c.name, "arguments": c.raw_arguments or json.dumps(c.arguments)}}
                               for c in calls]}
    return {"role": message["role"], "content": message.get("content", "")}


def _tool_calls(raw: Any, provider: str) -> list[ToolCall]:
    if not raw:
        return []
    if not isinstance(raw, list):
        raise ProviderError("tool_calls is not a list", "malformed", retryable=False, provider=provider)
    calls = []
    for i, item in enumerate(raw):
        function = item.get("function") if isinstance(item, dict) else None
        if not isinstance(function, dict) or not isinstance(function.get("name"), str):
            raise ProviderError("a tool call lacks its function name", "malformed", retryable=False,
                                provider=provider)
        text = function.get("arguments") or ""
        try:
            args = json.loads(text) if isinstance(text, str) and text else (text if isinstance(text, dict) else {})
        except ValueError:
            args = {}
        calls.append(ToolCall(id=str(item.get("id") or f"call_{i}"), name=function["name"],
                              arguments=args if isinstance(args, dict) else {},
                              raw_arguments=text if isinstance(text, str) else json.dumps(text)))
    return calls


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0
