"""The zero-latency fake model and fake platform for load runs, as one lean asyncio process.

    python bench/loopback_fakes.py        # prints the port it listens on, then serves until killed

The test suite's fakes (tests/support) are thread-per-connection http.server code, built to be
scripted; under load they cost about a millisecond of CPU per request and, living in the load
generator's process, they would add their own GIL queueing to the latency being measured. This
one answers from a single event loop in its own process:

- POST .../chat/completions  an OpenAI-compatible answer, "echo: <last user message>";
- GET  .../models            the model list (SmartBot's health probe);
- POST /hook                 a reply from SmartBot's generic channel: its `reply_to` and arrival
                             time (wall clock) are recorded;
- GET  /received             the recorded replies as JSON [[reply_to, unix_time], ...];
- GET  /count                how many replies were recorded;
- GET  /wait/<n>             answers once n replies were recorded (or after 30 s): no polling;
- GET  /calls                how many model calls were answered.
"""
from __future__ import annotations

import asyncio
import json
import sys
import time

_OK = b'{"ok": true}'


class _State:
    def __init__(self) -> None:
        self.received: list[tuple[str, float]] = []
        self.calls = 0


def _answer(request: dict) -> bytes:
    messages = request.get("messages") or []
    last = next((m.get("content", "") for m in reversed(messages) if m.get("role") == "user"), "")
    return json.dumps({"id": "cmpl-bench", "object": "chat.completion", "model": request.get("model", "fake"),
                       "choices": [{"index": 0, "message": {"role": "assistant", "content": f"echo: {last}"},
                                    "finish_reason": "stop"}],
                       "usage": {"prompt_tokens": 10, "completion_tokens": 5, "total_tokens": 15}}).encode()


def _route(state: _State, method: str, path: str, body: bytes) -> tuple[int, bytes]:
    if method == "POST" and path == "/hook":
        try:
            reply_to = json.loads(body).get("reply_to", "")
        except ValueError:
            return 400, b'{"ok": false}'
        state.received.append((reply_to, time.time()))
        return 200, _OK
    if method == "POST" and path.endswith("/chat.postMessage"):     # Slack's reply call
        state.received.append(("slack", time.time()))
        return 200, b'{"ok": true, "ts": "1.000001"}'
    if method == "POST" and path.endswith("/chat/completions"):
        state.calls += 1
        return 200, _answer(json.loads(body))
    if method == "GET" and path.endswith("/models"):
        return 200, b'{"data": [{"id": "fake"}]}'
    if method == "GET" and path == "/received":
        return 200, json.dumps(state.received).encode()
    if method == "GET" and (path == "/count" or path.startswith("/wait/")):
        return 200, str(len(state.received)).encode()
    if method == "GET" and path == "/calls":
        return 200, str(state.calls).encode()
    return 404, b'{"error": "not found"}'


async def _wait_for(state: _State, count: int, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while len(state.received) < count and time.monotonic() < deadline:
        await asyncio.sleep(0.0002)


async def _serve_connection(state: _State, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
    try:
        while True:
            head = await reader.readuntil(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            method, path, _ = lines[0].split(" ", 2)
            headers = {k.strip().lower(): v.strip() for k, _, v in (line.partition(":") for line in lines[1:] if line)}
            body = await reader.readexactly(int(headers.get("content-length", "0")))
            if path.startswith("/wait/"):
                await _wait_for(state, int(path[6:]))
            status, data = _route(state, method, path, body)
            close = headers.get("connection", "").lower() == "close"
            writer.write(b"HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %d\r\n%s\r\n"
                         % (status, len(data), b"Connection: close\r\n" if close else b"") + data)
            if close:
                break
    except (asyncio.IncompleteReadError, ConnectionError, ValueError):
        pass
    finally:
        writer.close()


async def _main() -> None:
    state = _State()
    server = await asyncio.start_server(lambda r, w: _serve_connection(state, r, w), "127.0.0.1", 0, backlog=2048)
    print(server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    try:
        asyncio.run(_main())
    except KeyboardInterrupt:
        sys.exit(0)


class LoopbackFakes:
    """Runs this module in a subprocess; `model_base_url`, `hook_url`, `received()`, `calls()`."""

    def __init__(self) -> None:
        import subprocess

        self._proc = subprocess.Popen([sys.executable, __file__], stdout=subprocess.PIPE, text=True)
        self.url = f"http://127.0.0.1:{int(self._proc.stdout.readline())}"
        self.model_base_url = self.url + "/v1"
        self.hook_url = self.url + "/hook"

    def _get(self, path: str) -> bytes:
        from urllib.request import urlopen

        with urlopen(self.url + path, timeout=30) as res:
            return res.read()

    def received(self) -> list[tuple[str, float]]:
        return [tuple(r) for r in json.loads(self._get("/received"))]

    def count(self) -> int:
        return int(self._get("/count"))

    def wait_for(self, count: int) -> int:
        """Block until `count` replies arrived (at most 30 s); returns how many did."""
        return int(self._get(f"/wait/{count}"))

    def calls(self) -> int:
        return int(self._get("/calls"))

    def stop(self) -> None:
        self._proc.terminate()
        self._proc.wait(timeout=10)
