"""A fake OpenAI-compatible chat-completions server that can be slow, fail, or talk nonsense.

By default it answers "echo: <last user message>". Tests script the next answers with `script()`:
each entry is a dict {"status", "body", "delay", "headers"} used once, in order.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from .httpserver import LoopbackServer, QuietHandler


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        model: FakeModel = self.server.owner  # type: ignore[attr-defined]
        body = self.read_body()
        try:
            request = json.loads(body)
        except ValueError:
            request = {"raw": body.decode("utf-8", "replace")}
        step = model._record(self.path, dict(self.headers), request)
        if step.get("delay"):
            time.sleep(step["delay"])
        if "body" in step:
            raw = step["body"]
            data = raw if isinstance(raw, bytes) else json.dumps(raw).encode()
        else:
            data = json.dumps(model.answer(request)).encode()
        try:
            self.send(step.get("status", 200), data, headers=step.get("headers"))
        except (BrokenPipeError, ConnectionResetError):
            pass


class FakeModel(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        self._script: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def script(self, *steps: dict[str, Any]) -> None:
        with self._lock:
            self._script.extend(steps)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.delay = 0.0

    def _record(self, path: str, headers: dict[str, str], request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "json": request})
            step = self._script.pop(0) if self._script else {}
        if "delay" not in step and self.delay:
            step = {**step, "delay": self.delay}
        return step

    @staticmethod
    def answer(request: dict[str, Any]) -> dict[str, Any]:
        messages = request.get("messages") or []
        last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        return {"id": "cmpl-test", "object": "chat.completion", "model": request.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"echo: {last}"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}

    def calls(self) -> int:
        with self._lock:
            return len(self.requests)
