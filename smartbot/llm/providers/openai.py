"""OpenAI-compatible chat completions (OpenAI, DeepSeek, Qwen, Moonshot, Zhipu, vLLM, llama.cpp,
Ollama's /v1): POST {base_url}/chat/completions. Never sends the key anywhere but its own header.
`embed` asks the same server's POST {base_url}/embeddings (knowledge spaces use it).

Streamed, the answer is server-sent events of `chat.completion.chunk` objects ending in
`data: [DONE]`; a tool call comes in deltas by index (its id and name first, its arguments in
pieces). The usage comes in a last chunk only when asked for with `stream_options`; a server that
refuses that option is asked again without it, and is not asked with it again.
"""
from __future__ import annotations

import json
import logging
import time
from typing import Any, Iterator

import requests

from ...errors import ProviderError
from ..base import ModelRequest, ModelResponse, ToolCall, ToolSpec, Usage
from . import wire
from .http import HttpProvider, as_int, malformed, post, raise_for_status, send_call

log = logging.getLogger(__name__)

USAGE_OPTION = {"include_usage": True}
TRANSCRIPTIONS_PATH = "/audio/transcriptions"
EMBEDDINGS_ANSWER_BYTES = 64_000_000    # a batch of vectors as JSON text


class OpenAIProvider(HttpProvider):
    kind = "openai"
    path = "/chat/completions"
    probe_path = "/models"
    _usage_option_refused = False       # set on the client once its server refused stream_options

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

    def embed(self, texts: list[str], model: str, timeout: tuple[float, float]) -> list[list[float]]:
        """One vector per text, in order; ProviderError when the answer does not hold them."""
        name = self.spec.name
        url = self.spec.base_url.rstrip("/") + "/embeddings"
        resp = post(self._session, name, url, {"model": model or self.spec.model, "input": texts}, timeout)
        try:
            data = wire.decode_json(wire.read_all(resp, name, EMBEDDINGS_ANSWER_BYTES,
                                                  time.monotonic() + self.spec.total_timeout), name)
        finally:
            resp.close()
        try:
            items = sorted(data["data"], key=lambda item: int(item.get("index", 0)))
            vectors = [[float(x) for x in item["embedding"]] for item in items]
        except (KeyError, TypeError, ValueError, AttributeError):
            raise malformed(name, "answer lacks data[].embedding") from None
        if len(vectors) != len(texts):
            raise malformed(name, f"answer holds {len(vectors)} vectors for {len(texts)} texts")
        return vectors

    def stream_parser(self) -> wire.StreamParser:
        return ChunkStream(self.spec.name, self.spec.model)

    def open_stream(self, request: ModelRequest, timeout: tuple[float, float]) -> requests.Response:
        payload = self.stream_payload(request)
        if self._usage_option_refused:
            return self.send(payload, timeout)
        try:
            return self.send({**payload, "stream_options": USAGE_OPTION}, timeout)
        except ProviderError as exc:
            if exc.kind != "client":
                raise
        resp = self.send(payload, timeout)      # a refusal of the option only if this one is accepted
        log.info("provider %s refuses stream_options: the usage of its streamed answers is estimated "
                 "unless it sends it anyway", self.spec.name)
        self._usage_option_refused = True
        return resp


    def transcribe(self, model: str, audio: bytes, filename: str, mime: str, timeout: tuple[float, float],
                   deadline: float) -> str:
        """POST {base_url}/audio/transcriptions (multipart: the file and the model name): the text."""
        name = self.spec.name
        url = self.spec.base_url.rstrip("/") + TRANSCRIPTIONS_PATH
        # The session's JSON content type is dropped here: requests writes the multipart one.
        resp = send_call(name, lambda: self._session.post(
            url, data={"model": model, "response_format": "json"}, files={"file": (filename, audio, mime)},
            headers={"Content-Type": None}, timeout=timeout, allow_redirects=False, stream=True))
        try:
            raise_for_status(resp, name)
            data = wire.decode_json(wire.read_all(resp, name, wire.MIN_ANSWER_BYTES, deadline), name)
        finally:
            resp.close()
        text = data.get("text") if isinstance(data, dict) else None
        if not isinstance(text, str):
            raise malformed(name, "the transcription answer lacks its text")
        return text


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
    if message.get("images"):
        return {"role": message["role"],
                "content": [{"type": "text", "text": message.get("content", "")}]
                + [{"type": "image_url", "image_url": {"url": image.data_url()}} for image in message["images"]]}
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


class ChunkStream(wire.StreamParser):
    def __init__(self, provider: str, model: str) -> None:
        super().__init__(provider, model)
        self._calls: dict[int, dict[str, str]] = {}      # tool calls by index, assembled from deltas

    def pieces(self, source: Iterator[str]) -> Iterator[str]:
        for _, data in wire.sse_events(source):
            if self.finished:
                continue
            if data.strip() == "[DONE]":
                self.finished = True
                continue
            chunk = self.event(data)
            if chunk.get("error"):
                raise wire.stream_error(self.provider, chunk["error"])
            if isinstance(chunk.get("usage"), dict):
                usage = chunk["usage"]
                self.usage = Usage(as_int(usage.get("prompt_tokens")), as_int(usage.get("completion_tokens")))
            self.model = str(chunk.get("model") or self.model)
            piece = self._choice(chunk.get("choices"))
            if piece:
                yield piece
        if not self.finished and not self.finish_reason:
            raise wire.cut_short(self.provider)

    def _choice(self, choices: Any) -> str:
        """The text of the first choice's delta (we ask for one), after taking its tool-call deltas."""
        if not choices:
            return ""
        choice = choices[0] if isinstance(choices, list) else None
        delta = choice.get("delta") if isinstance(choice, dict) else None
        if not isinstance(delta, dict):
            raise malformed(self.provider, "a chunk lacks choices[0].delta")
        self.finish_reason = str(choice.get("finish_reason") or self.finish_reason)
        for position, part in enumerate(delta.get("tool_calls") or []):
            self._tool_delta(position, part)
        return self.text(delta.get("content"))

    def _tool_delta(self, position: int, part: Any) -> None:
        function = part.get("function") if isinstance(part, dict) else None
        if not isinstance(function, dict):
            raise malformed(self.provider, "a tool call delta lacks its function")
        index = part.get("index", position)
        call = self._calls.setdefault(index if isinstance(index, int) else position,
                                      {"id": "", "name": "", "arguments": ""})
        call["id"] = call["id"] or str(part.get("id") or "")
        call["name"] = call["name"] or str(function.get("name") or "")
        arguments = function.get("arguments")
        call["arguments"] += arguments if isinstance(arguments, str) else ""

    def tool_calls(self) -> list[ToolCall]:
        return parse_tool_calls([{"id": c["id"], "function": {"name": c["name"], "arguments": c["arguments"]}}
                                 for _, c in sorted(self._calls.items())], self.provider)
