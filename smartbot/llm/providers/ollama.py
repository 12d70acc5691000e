"""Ollama's native API: POST {base_url}/api/chat, `"stream": false` for one answer.

Differences from chat completions: sampling settings go in `options` (`num_predict` is the token
limit), tool-call arguments are JSON objects rather than text, calls carry no id (we number them),
and a tool's result names the tool (`tool_name`). A key, when set (Ollama behind a proxy), goes
out as a bearer token and nowhere else.

Streamed (`"stream": true`), the answer is NDJSON: one object per line in the answer's own shape,
each with a piece of `message.content`, whole tool calls in the line that makes them, and the
counts in the last line (`"done": true`).
"""
from __future__ import annotations

from typing import Any, Iterator

from ..base import ModelRequest, ModelResponse, ToolCall, Usage
from . import wire
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

    def stream_parser(self) -> wire.StreamParser:
        return LineStream(self.spec.name, self.spec.model)


class LineStream(wire.StreamParser):
    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._calls: list[Any] = []

    def pieces(self, source: Iterator[str]) -> Iterator[str]:
        for line in source:
            if self.finished or not line.strip():
                continue
            chunk = self.event(line)
            if chunk.get("error"):
                raise wire.stream_error(self.provider, chunk["error"])
            message = chunk.get("message")
            message = message if isinstance(message, dict) else {}
            calls = message.get("tool_calls")
            self._calls += calls if isinstance(calls, list) else []
            if chunk.get("done"):
                self.finished = True
                self.model = str(chunk.get("model") or self.model)
                self.finish_reason = str(chunk.get("done_reason") or "")
                if "prompt_eval_count" in chunk or "eval_count" in chunk:
                    self.usage = Usage(as_int(chunk.get("prompt_eval_count")), as_int(chunk.get("eval_count")))
            piece = self.text(message.get("content"))
            if piece:
                yield piece
        if not self.finished:
            raise wire.cut_short(self.provider)

    def tool_calls(self) -> list[ToolCall]:
        return parse_tool_calls(self._calls, self.provider)


def _wire_message(message: dict[str, Any]) -> dict[str, Any]:
    role = message.get("role")
    if role == "tool":
        return {"role": "tool", "content": message.get("content", ""), "tool_name": message.get("name", "")}
    calls = message.get("tool_calls")
    if role == "assistant" and calls:
        return {"role": "assistant", "content": message.get("content") or "",
                "tool_calls": [{"function": {"name": c.name, "arguments": c.arguments}} for c in calls]}
    if message.get("images"):
        return {"role": role, "content": message.get("content", ""),
                "images": [image.base64() for image in message["images"]]}
    return {"role": role, "content": message.get("content", "")}
