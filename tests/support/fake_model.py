"""Fake model APIs over real HTTP that can be slow, fail, rate-limit, refuse or talk nonsense.

`ScriptedModelServer` is the shared machinery; each API shape is a subclass with its paths,
its protocol checks (a request our client should never send gets the API's own 400) and its
answer. `FakeModel` speaks OpenAI-compatible chat completions; see fake_anthropic.py and
fake_ollama.py for the others.

By default a server answers "echo: <last user message>". Tests script the next answers with
`script()`: each entry is a dict {"status", "body", "delay", "headers"} used once, in order.
`down = True` makes every request (health probes too) answer 503 until it is set back.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from .httpserver import LoopbackServer, QuietHandler


class _Handler(QuietHandler):
    def do_POST(self) -> None:  # noqa: N802 - http.server's naming
        server: ScriptedModelServer = self.server.owner  # type: ignore[attr-defined]
        body = self.read_body()
        try:
            request = json.loads(body)
        except ValueError:
            request = {"raw": body.decode("utf-8", "replace")}
        step = server._record(self.path, dict(self.headers), request)
        if step.get("delay"):
            time.sleep(step["delay"])
        refusal = None if step.get("down") else \
            server.refusal(self.path, {k.lower(): v for k, v in self.headers.items()}, request)
        if refusal is not None:
            status, data = refusal[0], json.dumps(refusal[1]).encode()
        elif "body" in step or "status" in step:
            raw = step.get("body", {})
            status, data = step.get("status", 200), raw if isinstance(raw, bytes) else json.dumps(raw).encode()
        else:
            status, data = 200, json.dumps(server.answer(request)).encode()
        self._reply(status, data, step.get("headers"))

    def do_GET(self) -> None:  # noqa: N802
        server: ScriptedModelServer = self.server.owner  # type: ignore[attr-defined]
        with server._lock:
            server.probes += 1
        if server.down:
            self._reply(503, json.dumps(server.error_body("down for the test")).encode())
        elif self.path == server.probe_path:
            self._reply(200, json.dumps(server.models_list()).encode())
        else:
            self._reply(404, json.dumps(server.error_body("not found")).encode())

    def _reply(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send(status, data, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass


class ScriptedModelServer(LoopbackServer):
    chat_path = ""
    probe_path = ""
    base_suffix = ""        # what to append to the server URL to get the provider's base_url

    def __init__(self) -> None:
        super().__init__(_Handler)
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        self.down = False
        self.probes = 0
        self._script: list[dict[str, Any]] = []
        self._lock = threading.Lock()

    @property
    def base_url(self) -> str:
        return self.url + self.base_suffix

    def script(self, *steps: dict[str, Any]) -> None:
        with self._lock:
            self._script.extend(steps)

    def reset(self) -> None:
        with self._lock:
            self._script.clear()
            self.requests.clear()
            self.delay = 0.0
            self.down = False

    def _record(self, path: str, headers: dict[str, str], request: dict[str, Any]) -> dict[str, Any]:
        with self._lock:
            self.requests.append({"path": path, "headers": headers, "json": request})
            if self.down:
                return {"status": 503, "body": self.error_body("down for the test"), "down": True}
            step = self._script.pop(0) if self._script else {}
        if "delay" not in step and self.delay:
            step = {**step, "delay": self.delay}
        return step

    def calls(self) -> int:
        with self._lock:
            return len(self.requests)

    def refusal(self, path: str, headers: dict[str, str], request: dict[str, Any]) -> tuple[int, dict] | None:
        """What the real API answers to a request it would refuse (None: it would accept it).
        `headers` have lower-case names."""
        if path != self.chat_path:
            return 404, self.error_body(f"no such endpoint {path}")
        return None

    def answer(self, request: dict[str, Any]) -> dict[str, Any]:
        raise AssertionError(f"{type(self).__name__} must define answer()")

    def error_body(self, message: str) -> dict[str, Any]:
        return {"error": {"message": message, "type": "fake_error"}}

    def models_list(self) -> dict[str, Any]:
        return {"data": [{"id": "fake-1"}]}


class FakeModel(ScriptedModelServer):
    """OpenAI-compatible: POST /v1/chat/completions, GET /v1/models."""

    chat_path = "/v1/chat/completions"
    probe_path = "/v1/models"
    base_suffix = "/v1"

    @staticmethod
    def answer(request: dict[str, Any]) -> dict[str, Any]:      # static: outage.py answers with it too
        messages = request.get("messages") or []
        last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
        return {"id": "cmpl-test", "object": "chat.completion", "model": request.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": f"echo: {last}"},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
