"""A fake Ollama native API (POST /api/chat, GET /api/tags). It refuses a streaming request (our
client must ask for one JSON answer) and answers in Ollama's non-streaming shape."""
from __future__ import annotations

from typing import Any

from .fake_model import ScriptedModelServer


class FakeOllama(ScriptedModelServer):
    chat_path = "/api/chat"
    probe_path = "/api/tags"
    base_suffix = ""

    def error_body(self, message: str) -> dict[str, Any]:
        return {"error": message}

    def refusal(self, path: str, headers: dict[str, str], request: dict[str, Any]) -> tuple[int, dict] | None:
        if path != self.chat_path:
            return 404, self.error_body("404 page not found")
        if request.get("stream") is not False:
            return 400, self.error_body("this fake only answers stream=false")
        if not isinstance(request.get("messages"), list) or not request.get("model"):
            return 400, self.error_body("model and messages are required")
        return None

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        last = next((m.get("content", "") for m in reversed(request["messages"]) if m.get("role") == "user"), "")
        return {"model": request["model"], "created_at": "2026-12-01T00:00:00Z",
                "message": {"role": "assistant", "content": f"echo: {last}"}, "done": True, "done_reason": "stop",
                "prompt_eval_count": 8, "eval_count": 4}

    def models_list(self) -> dict[str, Any]:
        return {"models": [{"name": "llama-fake"}]}
