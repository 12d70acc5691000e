"""Fake model APIs over real HTTP that can be slow, fail, rate-limit, refuse or talk nonsense.

`ScriptedModelServer` is the shared machinery; each API shape is a subclass with its paths,
its protocol checks (a request our client should never send gets the API's own 400) and its
answer. `FakeModel` speaks OpenAI-compatible chat completions; see fake_anthropic.py and
fake_ollama.py for the others.

By default a server answers "echo: <last user message>". Tests script the next answers with
`script()`: each entry is a dict {"status", "body", "delay", "headers"} used once, in order.
`down = True` makes every request (health probes too) answer 503 until it is set back.

A request that asks to stream (each API says so its own way) is answered in the API's streaming
shape, piece by piece over chunked HTTP, `pace` seconds apart (the server's `pace`, or the step's);
the default answer to one that does not comes whole, as late as its last piece would have.
A step may give the pieces ("tokens": [...]), cut the connection after them before the stream's
end ("cut": True), or replace the whole body with raw bytes written as they come ("chunks": any
iterable, endless ones included). `first_pieces` holds when each stream's first piece was sent
(time.perf_counter()); `connections` counts the client connections accepted.
"""
from __future__ import annotations

import json
import re
import socket
import threading
import time
from typing import Any, Iterable

from .httpserver import LoopbackServer, QuietHandler


class _Handler(QuietHandler):
    def handle(self) -> None:
        try:
            super().handle()
        except ConnectionResetError:
            pass        # a kept-alive connection dropped by its client (a worker killed, an app stopped)

    def setup(self) -> None:
        super().setup()
        server: ScriptedModelServer = self.server.owner  # type: ignore[attr-defined]
        with server._lock:
            server.connections += 1

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
        elif server.wants_stream(request) and "body" not in step and "status" not in step:
            self._stream(server, request, step)
            return
        elif "body" in step or "status" in step:
            raw = step.get("body", {})
            status, data = step.get("status", 200), raw if isinstance(raw, bytes) else json.dumps(raw).encode()
        else:
            time.sleep(step.get("pace", server.pace) * (len(server.pieces_of(request)) - 1))
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

    def _stream(self, server: ScriptedModelServer, request: dict[str, Any], step: dict[str, Any]) -> None:
        pace = step.get("pace", server.pace)
        self.send_response(200)
        self.send_header("Content-Type", server.stream_type)
        self.send_header("Transfer-Encoding", "chunked")
        self.end_headers()
        try:
            if "chunks" in step:
                self._paced(step["chunks"], pace, server)
            else:
                head, pieces, tail = server.stream_body(request, step["tokens"] if "tokens" in step
                                                      else server.pieces_of(request))
                self._paced(head, 0.0)
                self._paced(pieces, pace, server)
                if step.get("cut"):
                    self.close_connection = True
                    self.connection.shutdown(socket.SHUT_RDWR)
                    return
                self._paced(tail, 0.0)
            self.wfile.write(b"0\r\n\r\n")
            self.wfile.flush()
        except OSError:         # the client went away (a cap reached, a test over)
            self.close_connection = True

    def _paced(self, chunks: Iterable[bytes], pace: float, server: ScriptedModelServer | None = None) -> None:
        for i, data in enumerate(chunks):
            if i and pace:
                time.sleep(pace)
            self.wfile.write(b"%x\r\n%s\r\n" % (len(data), data))
            self.wfile.flush()
            if i == 0 and server is not None:
                server.note_first_piece()

    def _reply(self, status: int, data: bytes, headers: dict[str, str] | None = None) -> None:
        try:
            self.send(status, data, headers=headers)
        except (BrokenPipeError, ConnectionResetError):
            pass


class ScriptedModelServer(LoopbackServer):
    chat_path = ""
    probe_path = ""
    base_suffix = ""        # what to append to the server URL to get the provider's base_url
    stream_type = "text/event-stream"

    def __init__(self) -> None:
        super().__init__(_Handler)
        self.requests: list[dict[str, Any]] = []
        self.delay = 0.0
        self.pace = 0.0
        self.first_pieces: list[float] = []
        self.connections = 0        # client connections accepted (keep-alive reuses one)
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

    def note_first_piece(self) -> None:
        with self._lock:
            self.first_pieces.append(time.perf_counter())

    def wants_stream(self, request: dict[str, Any]) -> bool:
        return request.get("stream") is True

    def pieces_of(self, request: dict[str, Any]) -> list[str]:
        """The default answer's text in word-sized pieces, spaces kept."""
        return re.findall(r"\S+\s*|\s+", self.answer_text(request))

    def answer_text(self, request: dict[str, Any]) -> str:
        return echo_of(request)

    def stream_body(self, request: dict[str, Any], pieces: list[str]) -> tuple[list[bytes], list[bytes], list[bytes]]:
        """What comes before the pieces, each piece as sent, and what ends the stream."""
        raise AssertionError(f"{type(self).__name__} must define stream_body()")

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


def echo_of(request: dict[str, Any]) -> str:
    messages = request.get("messages") or []
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return f"echo: {last}"


def sse(data: Any, event: str = "") -> bytes:
    """One server-sent event carrying `data` as JSON (or as is, when it is text)."""
    text = data if isinstance(data, str) else json.dumps(data)
    return (f"event: {event}\n" if event else "").encode() + f"data: {text}\n\n".encode()


class FakeModel(ScriptedModelServer):
    """OpenAI-compatible: POST /v1/chat/completions, GET /v1/models. `refuses_stream_options`: a
    streaming request with `stream_options` gets a 400, as some compatible servers answer."""

    chat_path = "/v1/chat/completions"
    probe_path = "/v1/models"
    base_suffix = "/v1"
    refuses_stream_options = False

    def refusal(self, path: str, headers: dict[str, str], request: dict[str, Any]) -> tuple[int, dict] | None:
        if path == self.chat_path and self.refuses_stream_options and "stream_options" in request:
            return 400, self.error_body("Unrecognized request argument supplied: stream_options")
        return super().refusal(path, headers, request)

    def stream_body(self, request: dict[str, Any], pieces: list[str]) -> tuple[list[bytes], list[bytes], list[bytes]]:
        base = {"id": "cmpl-test", "object": "chat.completion.chunk", "model": request.get("model", "fake")}

        def chunk(delta: dict[str, Any], finish: str | None = None) -> bytes:
            return sse({**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish}]})
        tail = [chunk({}, "stop")]
        if (request.get("stream_options") or {}).get("include_usage"):
            tail.append(sse({**base, "choices": [],
                             "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}))
        return [chunk({"role": "assistant", "content": ""})], [chunk({"content": p}) for p in pieces], \
            tail + [sse("[DONE]")]

    @staticmethod
    def answer(request: dict[str, Any]) -> dict[str, Any]:      # static: outage.py answers with it too
        return {"id": "cmpl-test", "object": "chat.completion", "model": request.get("model", "fake"),
                "choices": [{"index": 0, "message": {"role": "assistant", "content": echo_of(request)},
                             "finish_reason": "stop"}],
                "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}
