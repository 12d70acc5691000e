"""Anthropic Messages: POST {base_url}/v1/messages with `x-api-key` and `anthropic-version`.

The API differs from chat completions in ways that matter here: the system prompt is a top-level
field, not a message; turns must alternate user/assistant; a tool call is a `tool_use` content
block of the assistant, and its result a `tool_result` block in the next *user* turn. This module
converts our neutral messages both ways and never puts the key anywhere but its header.

Streamed, the answer is named events: `message_start` (the prompt's usage), content blocks opened
by `content_block_start` and filled by `content_block_delta` (text, or a tool's input as pieces of
JSON), `message_delta` (the stop reason and the output usage), and `message_stop` at the end.
"""
from __future__ import annotations

import dataclasses
import json
from typing import Any, Iterator

from ..base import ModelRequest, ModelResponse, ToolCall, Usage
from . import wire
from .http import HttpProvider, as_int, malformed

API_VERSION = "2023-06-01"


class AnthropicProvider(HttpProvider):
    kind = "anthropic"
    path = "/v1/messages"
    probe_path = "/v1/models"

    def fixed_headers(self) -> dict[str, str]:
        return {"anthropic-version": API_VERSION}

    def key_headers(self, api_key: str) -> dict[str, str]:
        return {"x-api-key": api_key}

    def payload(self, request: ModelRequest) -> dict[str, Any]:
        system = [str(m.get("content") or "") for m in request.messages if m.get("role") == "system"]
        payload: dict[str, Any] = {
            "model": self.spec.model,
            "max_tokens": self.max_tokens(request),
            # Anthropic takes 0..1 where chat-completion APIs take 0..2; a shared setting must not
            # turn every call into a refused request.
            "temperature": min(self.temperature(request), 1.0),
            "messages": wire_messages([m for m in request.messages if m.get("role") != "system"]),
        }
        if any(system):
            payload["system"] = "\n\n".join(part for part in system if part)
        if request.tools:
            payload["tools"] = [{"name": t.name, "description": t.description, "input_schema": t.parameters}
                                for t in request.tools]
        return payload

    def parse(self, data: dict[str, Any], latency: float) -> ModelResponse:
        name = self.spec.name
        content = data.get("content")
        if not isinstance(content, list):
            raise malformed(name, "answer lacks a content list")
        texts: list[str] = []
        calls: list[ToolCall] = []
        for block in content:
            kind = block.get("type") if isinstance(block, dict) else None
            if kind == "text":
                if not isinstance(block.get("text"), str):
                    raise malformed(name, "a text block has no text")
                texts.append(block["text"])
            elif kind == "tool_use":
                calls.append(_tool_call(block, name))
        usage = data.get("usage")
        usage = usage if isinstance(usage, dict) else {}
        return ModelResponse(
            text="".join(texts), provider=name, model=str(data.get("model") or self.spec.model),
            usage=Usage(as_int(usage.get("input_tokens")), as_int(usage.get("output_tokens"))),
            finish_reason=str(data.get("stop_reason") or ""), latency=latency, tool_calls=calls)

    def stream_parser(self) -> wire.StreamParser:
        return EventStream(self.spec.name, self.spec.model)


def _tool_call(block: dict[str, Any], provider: str) -> ToolCall:
    if not isinstance(block.get("name"), str) or not isinstance(block.get("id"), str):
        raise malformed(provider, "a tool_use block lacks its id or name")
    arguments = block.get("input")
    return ToolCall(id=block["id"], name=block["name"], arguments=arguments if isinstance(arguments, dict) else {},
                    raw_arguments=json.dumps(arguments, ensure_ascii=False))


class EventStream(wire.StreamParser):
    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._tools: dict[Any, dict[str, Any]] = {}     # tool_use blocks by index: id, name, input pieces

    def pieces(self, source: Iterator[str]) -> Iterator[str]:
        for name, data in wire.sse_events(source):
            if self.finished:
                continue
            event = self.event(data)
            kind = event.get("type") or name
            if kind == "error":
                raise wire.stream_error(self.provider, event.get("error"))
            if kind == "message_start":
                message = event.get("message")
                message = message if isinstance(message, dict) else {}
                self.model = str(message.get("model") or self.model)
                self._count(message.get("usage"))
            elif kind == "message_delta":
                delta = event.get("delta")
                if isinstance(delta, dict) and delta.get("stop_reason"):
                    self.finish_reason = str(delta["stop_reason"])
                self._count(event.get("usage"))
            elif kind == "message_stop":
                self.finished = True
            piece = self._block(kind, event)
            if piece:
                yield piece
        if not self.finished:
            raise wire.cut_short(self.provider)

    def _block(self, kind: str, event: dict[str, Any]) -> str:
        """The text a content block event adds; a tool_use block's pieces are kept for the end."""
        if kind == "content_block_start":
            block = event.get("content_block")
            if not isinstance(block, dict):
                raise malformed(self.provider, "content_block_start lacks its block")
            if block.get("type") == "tool_use":
                self._tools[event.get("index")] = {"id": block.get("id"), "name": block.get("name"), "input": []}
                return ""
            return self.text(block.get("text")) if block.get("type") == "text" else ""
        if kind != "content_block_delta":
            return ""
        delta = event.get("delta")
        if not isinstance(delta, dict):
            raise malformed(self.provider, "content_block_delta lacks its delta")
        if delta.get("type") == "text_delta":
            return self.text(delta.get("text"))
        tool = self._tools.get(event.get("index"))
        if delta.get("type") == "input_json_delta" and tool is not None:
            tool["input"].append(str(delta.get("partial_json") or ""))
        return ""

    def _count(self, usage: Any) -> None:
        """Anthropic counts input at the start and output (so far) in each message_delta."""
        if not isinstance(usage, dict):
            return
        before = self.usage or Usage()
        prompt, completion = usage.get("input_tokens"), usage.get("output_tokens")
        self.usage = Usage(prompt if isinstance(prompt, int) else before.prompt_tokens,
                           completion if isinstance(completion, int) else before.completion_tokens)

    def tool_calls(self) -> list[ToolCall]:
        calls = []
        for tool in self._tools.values():
            raw = "".join(tool["input"])
            try:
                arguments = json.loads(raw or "{}")
            except (ValueError, RecursionError):
                arguments = None        # kept as sent, so the call is refused with a reason
            call = _tool_call({"id": tool["id"], "name": tool["name"], "input": arguments}, self.provider)
            calls.append(call if arguments is not None else dataclasses.replace(call, raw_arguments=raw))
        return calls


def wire_messages(messages: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Neutral messages -> alternating Anthropic turns. Consecutive messages that land on the same
    role (several tool results, a tool result then the user's text) are merged into one turn."""
    turns: list[dict[str, Any]] = []
    for message in messages:
        role, blocks = _blocks(message)
        if not blocks:
            continue
        if turns and turns[-1]["role"] == role:
            turns[-1]["content"].extend(blocks)
        else:
            turns.append({"role": role, "content": blocks})
    for turn in turns:
        blocks = turn["content"]
        if len(blocks) == 1 and blocks[0]["type"] == "text":
            turn["content"] = blocks[0]["text"]
    return turns


def _blocks(message: dict[str, Any]) -> tuple[str, list[dict[str, Any]]]:
    role = message.get("role")
    content = str(message.get("content") or "")
    if role == "tool":
        return "user", [{"type": "tool_result", "tool_use_id": message["tool_call_id"], "content": content}]
    # The API refuses empty text blocks, so an assistant turn that only calls tools has none.
    blocks: list[dict[str, Any]] = [{"type": "image", "source": {"type": "base64", "media_type": image.mime,
                                                                 "data": image.base64()}}
                                    for image in message.get("images") or ()]
    blocks += [{"type": "text", "text": content}] if content else []
    if role == "assistant":
        blocks += [{"type": "tool_use", "id": c.id, "name": c.name, "input": c.arguments}
                   for c in message.get("tool_calls") or []]
        return "assistant", blocks
    return "user", blocks
