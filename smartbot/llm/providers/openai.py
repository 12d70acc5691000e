"""OpenAI-compatible chat completions (OpenAI, DeepSeek, Qwen, Moonshot, Zhipu, vLLM, llama.cpp,
Ollama's /v1): POST {base_url}/chat/completions. Never sends the key anywhere but its own header."""
from __future__ import annotations

import json
from typing import Any

from ...errors import ProviderError
from ..base import ModelRequest, ModelResponse, ToolCall, ToolSpec, Usage
from .http import HttpProvider, as_int, malformed


class OpenAIProvider(HttpProvider):
    kind = "openai"
    path = "/chat/completions"
    probe_path = "/models"

    def payload(self, request: ModelRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.spec.model,
            "messages": [_wire_message(m) for m in request.messages],
            "max_tokens": self.max_tokens(request),
            "temperature": self.temperature(request),
        }
        if request.tools:
            payload["tools"] = [wire_tool(t) for t in request.tools]
        return payload

    def parse(self, data: dict[str, Any], latency: float) -> ModelResponse:
        name = self.spec.name
        try:
            choice = data["choices"][0]
            message = choice["message"]
            text = message.get("content")
        except (KeyError, IndexError, TypeError, AttributeError):
            raise malformed(name, "answer lacks choices[0].message") from None
        if text is None:
            text = ""
        if not isinstance(text, str):
            raise malformed(name, "message content is not text")
        calls = parse_tool_calls(message.get("tool_calls"), name)
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return ModelResponse(
            text=text, provider=name, model=str(data.get("model") or self.spec.model),
            usage=Usage(as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens"))),
            finish_reason=str(choice.get("finish_reason") or ""), latency=latency, tool_calls=calls)


def wire_tool(tool: ToolSpec) -> dict[str, Any]:
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


def parse_tool_calls(raw: Any, provider: str) -> list[ToolCall]:
    """`[{"id"?, "function": {"name", "arguments": JSON text or object}}]` (OpenAI and Ollama)."""
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
