"""A zero-latency OpenAI-compatible model that also speaks streaming SSE, and notes what it was sent.

nanobot's custom provider streams, SmartBot's client does not: one fake serves both, so the two
are measured against the same thing. For every request it records the characters of the system
prompt + history (`messages`), of the tool definitions, the number of tools, and how long it took
itself to answer (what is subtracted from a turn to get the caller's own overhead).
"""
from __future__ import annotations

import json
import threading
import time
from dataclasses import dataclass
from typing import Any

from tests.support.httpserver import LoopbackServer, QuietHandler


@dataclass
class Seen:
    message_chars: int
    tool_chars: int
    tools: int
    body_bytes: int
    seconds: float


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self.send(200, json.dumps({"data": [{"id": "fake-1"}]}).encode())

    def do_POST(self) -> None:  # noqa: N802
        started = time.perf_counter()
        body = self.read_body()
        request = json.loads(body or b"{}")
        messages = request.get("messages") or []
        last = next((m.get("content") for m in reversed(messages) if m.get("role") == "user"), "")
        text = f"echo: {last if isinstance(last, str) else 'hello'}"
        if request.get("stream"):
            self._stream(request.get("model", "fake-1"), text)
        else:
            self.send(200, json.dumps({
                "id": "cmpl-bench", "object": "chat.completion", "model": request.get("model", "fake-1"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": text}, "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}).encode())
        tools = request.get("tools") or []
        self.server.owner.note(Seen(  # type: ignore[attr-defined]
            sum(len(m.get("content") or "") if isinstance(m.get("content"), str) else len(json.dumps(m.get("content")))
                for m in messages),
            len(json.dumps(tools, ensure_ascii=False)) if tools else 0, len(tools), len(body),
            time.perf_counter() - started))

    def _stream(self, model: str, text: str) -> None:
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-cache")
        self.send_header("Connection", "close")
        self.end_headers()
        self.close_connection = True
        base = {"id": "cmpl-bench", "object": "chat.completion.chunk", "created": int(time.time()), "model": model}
        chunks = [{"index": 0, "delta": {"role": "assistant", "content": text}, "finish_reason": None}], \
                 [{"index": 0, "delta": {}, "finish_reason": "stop"}]
        for choices in chunks:
            self.wfile.write(f"data: {json.dumps({**base, 'choices': choices})}\n\n".encode())
        usage = {**base, "choices": [], "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
        self.wfile.write(f"data: {json.dumps(usage)}\n\ndata: [DONE]\n\n".encode())
        self.wfile.flush()


class SseModel(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def note(self, seen: Seen) -> None:
        with self._lock:
            self.seen.append(seen)

    def take(self) -> list[Seen]:
        with self._lock:
            out, self.seen = self.seen, []
        return out

    def start(self) -> "SseModel":
        super().start()
        return self


def describe(seen: list[Any]) -> dict[str, Any]:
    """Per-call sizes of what a caller sent, as plain data for the results file."""
    return {"calls": len(seen), "message_chars": [s.message_chars for s in seen],
            "tool_chars": [s.tool_chars for s in seen], "tools": [s.tools for s in seen]}
