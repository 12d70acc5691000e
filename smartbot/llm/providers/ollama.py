"""Ollama's native API: POST {base_url}/api/chat with `"stream": false`.

Differences from chat completions: sampling settings go in `options` (`num_predict` is the token
limit), tool-call arguments are JSON objects rather than text, calls carry no id (we number them),
and a tool's result names the tool (`tool_name`). A key, when set (Ollama behind a proxy), goes
out as a bearer token and nowhere else.
"""
from __future__ import annotations

from typing import Any

from ..base import ModelRequest, ModelResponse, Usage
from .http import HttpProvider, as_int, malformed
from .openai import parse_tool_calls, wire_tool


class OllamaProvider(HttpProvider):
    kind = "ollama"
    path = "/api/chat"
    probe_path = "/api/tags"

    def payload(self, request: ModelRequest) -> dict[str, Any]:
        payload: dict[str, Any] = {
            "model": self.spec.model,
            "messages": [_wire_message(m) for m in request.messages],
            "stream": False,
            "options": {"temperature": self.temperature(request), "num_predict": self.max_tokens(request)},
        }
        if request.tools:
            payload["tools"] = [wire_tool(t) for t in request.tools]
        return payload

    def parse(self, data: dict[str, Any], latency: float) -> ModelResponse:
        name = self.spec.name
        message = data.get("message")
        if not isinstance(message, dict):
            raise malformed(name, "answer lacks a message")
        text = message.get("content") or ""
        if not isinstance(text, str):
            raise malformed(name, "message content is not text")
        return ModelResponse(
            text=text, provider=name, model=str(data.get("model") or self.spec.model),
            usage=Usage(as_int(data.get("prompt_eval_count")), as_int(data.get("eval_count"))),
            finish_reason=str(data.get("done_reason") or ""), latency=latency,
            tool_calls=parse_tool_calls(message.get("tool_calls"), name))


def _wire_message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    if role == "tool":
        return {"role": "tool", "content": message.get("content", ""), "tool_name": message.get("name", "")}
    calls = message.get("tool_calls")
    if role == "assistant" and calls:
        return {"role": "assistant", "content": message.get("content") or "",
                "tool_calls": [{"function": {"name": c.name, "arguments": c.arguments}} for c in calls]}
    return {"role": role, "content": message.get("content", "")}
