"""A stdio MCP server: a child process started like a catalogue command, speaking newline-delimited
JSON-RPC on its stdin and stdout.

It starts through the executor's `limits` wrapper (resource limits, never root: `[executor]
run_as`), with a scrubbed environment (only the variables its `env` names, never SmartBot's own),
in a process group of its own that is killed whole on close. A reader thread hands answers to the
waiting callers and notifications to `on_notification`; stderr is drained into a short tail kept
for the admin page's "last error" (masked by whoever shows it). Never a shell.
"""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import threading
from collections import deque
from typing import Any, Callable, Mapping

from ..executor.runner import Limits, limited_argv, resolve_program
from . import jsonrpc
from .jsonrpc import McpProtocolError, McpTimeout, McpTransportError

log = logging.getLogger(__name__)
STDERR_TAIL = 40            # lines of the server's stderr kept for the last-error text


class StdioTransport:
    def __init__(self, argv: list[str], env: Mapping[str, str], limits: Limits, workdir: str = "/",
                 on_notification: Callable[[dict[str, Any]], None] | None = None) -> None:
        program = resolve_program(argv[0])
        if program is None:
            raise McpTransportError(f"{argv[0]} is not installed on this server")
        wrapper = limited_argv(program, argv[1:], limits)
        try:
            self._proc = subprocess.Popen(wrapper, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
                                          stderr=subprocess.PIPE, cwd=workdir, env=dict(env), shell=False,
                                          close_fds=True, start_new_session=True)
        except OSError as exc:
            raise McpTransportError(f"could not start {argv[0]}: {exc.strerror}") from None
        self._on_notification = on_notification or (lambda message: None)
        self._waiting = jsonrpc.Waiting()
        self._write_lock = threading.Lock()
        self.stderr_tail: deque[str] = deque(maxlen=STDERR_TAIL)
        self._reader = threading.Thread(target=self._read, name=f"mcp-stdio-{self._proc.pid}", daemon=True)
        self._reader.start()
        threading.Thread(target=self._drain_stderr, name=f"mcp-stderr-{self._proc.pid}", daemon=True).start()

    @property
    def alive(self) -> bool:
        return self._proc.poll() is None

    def exchange(self, message: dict[str, Any], timeout: float) -> dict[str, Any]:
        """Send a request and wait up to `timeout` seconds for its answer."""
        event = self._waiting.expect(message["id"])
        self._send(message)
        event.wait(timeout)
        answer = self._waiting.take(message["id"])
        if answer is None:
            raise McpTimeout(f"no answer within {timeout:g} s")
        return answer

    def notify(self, message: dict[str, Any], timeout: float) -> None:
        self._send(message)

    def _send(self, message: dict[str, Any]) -> None:
        line = json.dumps(message, ensure_ascii=False, separators=(",", ":")) + "\n"
        try:
            with self._write_lock:
                self._proc.stdin.write(line.encode("utf-8"))  # type: ignore[union-attr]
                self._proc.stdin.flush()  # type: ignore[union-attr]
        except (OSError, ValueError):
            raise McpTransportError(self._exit_reason()) from None

    def _read(self) -> None:
        stream = self._proc.stdout
        try:
            while True:
                line = stream.readline(jsonrpc.MAX_MESSAGE_BYTES + 1)  # type: ignore[union-attr]
                if not line:
                    break
                if len(line) > jsonrpc.MAX_MESSAGE_BYTES:
                    raise McpProtocolError("the server sent a message larger than the limit")
                if line.strip():
                    self._dispatch(line)
            failure: jsonrpc.McpError = McpTransportError(self._exit_reason())
        except McpProtocolError as exc:
            failure = exc
            self._kill()
        except (OSError, ValueError):
            failure = McpTransportError(self._exit_reason())
        self._waiting.fail_all(failure)

    def _dispatch(self, line: bytes) -> None:
        for message in jsonrpc.parse(line):
            if jsonrpc.is_response(message):
                self._waiting.answer(message)
            elif "method" in message and "id" in message:       # the server asks us something
                answer = jsonrpc.reply(message["id"]) if message["method"] == "ping" else \
                    jsonrpc.reply(message["id"], error=(-32601, "method not found"))
                try:
                    self._send(answer)
                except McpTransportError:
                    return
            elif "method" in message:
                self._on_notification(message)

    def _drain_stderr(self) -> None:
        for raw in iter(self._proc.stderr.readline, b""):  # type: ignore[union-attr]
            self.stderr_tail.append(raw.decode("utf-8", "replace").rstrip()[:500])

    def _exit_reason(self) -> str:
        try:
            code = self._proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            return "the server closed its output"
        return f"the server exited with status {code}"

    def _kill(self) -> None:
        try:
            os.killpg(self._proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def close(self) -> None:
        """Close stdin (a polite server ends), then kill the whole process group and reap it."""
        try:
            self._proc.stdin.close()  # type: ignore[union-attr]
        except OSError:
            pass
        try:
            self._proc.wait(timeout=0.5)
        except subprocess.TimeoutExpired:
            pass
        self._kill()
        try:
            self._proc.wait(timeout=2)
        except subprocess.TimeoutExpired:
            log.warning("stdio MCP server %s did not end after SIGKILL", self._proc.pid)
        for stream in (self._proc.stdout, self._proc.stderr):
            try:
                stream.close()  # type: ignore[union-attr]
            except OSError:
                pass
        self._waiting.fail_all(McpTransportError("the connection was closed"))
