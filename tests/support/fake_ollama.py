"""A fake Ollama native API (POST /api/chat, GET /api/tags). With `"stream": false` it answers in
Ollama's one-piece shape; otherwise (Ollama streams unless told not to) in NDJSON lines."""
from __future__ import annotations

import json
from typing import Any

from .fake_model import ScriptedModelServer, echo_of


class FakeOllama(ScriptedModelServer):
    chat_path = "/api/chat"
    probe_path = "/api/tags"
    base_suffix = ""
    stream_type = "application/x-ndjson"

    def error_body(self, message: str) -> dict[str, Any]:
        return {"error": message}

    def refusal(self, path: str, headers: dict[str, str], request: dict[str, Any]) -> tuple[int, dict] | None:
        if path != self.chat_path:
            return 404, self.error_body("404 page not found")
        if not isinstance(request.get("messages"), list) or not request.get("model"):
            return 400, self.error_body("model and messages are required")
        return None

    def wants_stream(self, request: dict[str, Any]) -> bool:
        return request.get("stream") is not False

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        return {"model": request["model"], "created_at": "2026-12-01T00:00:00Z",
                "message": {"role": "assistant", "content": echo_of(request)}, "done": True, "done_reason": "stop",
                "prompt_eval_count": 8, "eval_count": 4}

    def stream_body(self, request: dict[str, Any], pieces: list[str]) -> tuple[list[bytes], list[bytes], list[bytes]]:
        def line(content: str, **more: Any) -> bytes:
            return json.dumps({"model": request["model"], "created_at": "2026-12-01T00:00:00Z",
                               "message": {"role": "assistant", "content": content}, **more}).encode() + b"\n"
        return [], [line(p, done=False) for p in pieces], \
            [line("", done=True, done_reason="stop", prompt_eval_count=8, eval_count=4)]

    def models_list(self) -> dict[str, Any]:
        return {"models": [{"name": "llama-fake"}]}
