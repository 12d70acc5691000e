"""MCP servers for the client tests: the SDK tool server (mcp_tool_server.py) as a stdio command
line, or served over Streamable HTTP by uvicorn on a loopback port the OS picks, in this process.
Both record the calls they get (`calls()`); the HTTP one also the headers it was sent."""
from __future__ import annotations

import json
import os
import socket
import sys
import sysconfig
import tempfile
import threading
from pathlib import Path
from typing import Any

from .waiting import wait_until

SERVER_SCRIPT = str(Path(__file__).with_name("mcp_tool_server.py"))
SYSTEM_PYTHON = "/usr/bin/python3"


class Record:
    """A file every user may append to (a stdio server runs as "nobody" when the tests run as root)."""

    def __init__(self) -> None:
        folder = tempfile.mkdtemp(prefix="smartbot-mcp-")
        os.chmod(folder, 0o777)
        self.path = os.path.join(folder, "calls.jsonl")
        Path(self.path).touch()
        os.chmod(self.path, 0o666)

    def calls(self) -> list[dict[str, Any]]:
        with open(self.path, encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def tools_called(self) -> list[str]:
        return [c["tool"] for c in self.calls()]


def stdio_command(record: Record) -> list[str]:
    """The [[mcp_servers]] command of a stdio tool server recording into `record`."""
    site = sysconfig.get_paths()["purelib"]
    python = SYSTEM_PYTHON if os.path.exists(SYSTEM_PYTHON) and os.geteuid() == 0 else sys.executable
    return [python, "-I", SERVER_SCRIPT, site, record.path]


class McpHttpServer:
    """The tool server over Streamable HTTP (SSE answers by default; `json_response=True` for JSON)."""

    def __init__(self, json_response: bool = False) -> None:
        import uvicorn
        sys.path.insert(0, str(Path(__file__).parent))
        from mcp_tool_server import build

        self.record = Record()
        self.headers: list[dict[str, str]] = []
        self.mcp = build(self.record.path, json_response=json_response)
        app = self.mcp.streamable_http_app()

        async def recording(scope: dict, receive: Any, send: Any) -> None:
            if scope["type"] == "http":
                self.headers.append({k.decode().lower(): v.decode() for k, v in scope["headers"]})
            await app(scope, receive, send)

        self._sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(64)
        self.port = self._sock.getsockname()[1]
        self.server = uvicorn.Server(uvicorn.Config(recording, log_level="warning", lifespan="on",
                                                   timeout_graceful_shutdown=2))
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [self._sock]}, daemon=True)
        self._thread.start()
        wait_until(lambda: self.server.started, timeout=10)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/mcp"

    def calls(self) -> list[dict[str, Any]]:
        return self.record.calls()

    def stop(self) -> None:
        self.server.should_exit = True
        self._thread.join(timeout=10)
        self._sock.close()

