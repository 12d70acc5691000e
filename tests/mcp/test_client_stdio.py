"""A stdio MCP server runs with the protections of a command (resource limits, never root, a
scrubbed environment, its process group killed on close), and a server that speaks nonsense is
cut off, not believed. Real processes: the SDK's server, and small misbehaving scripts."""
from __future__ import annotations

import os

import pytest

from smartbot.executor.environment import BASE_ENV
from smartbot.executor.runner import Limits
from smartbot.mcp.client import McpClient
from smartbot.mcp.jsonrpc import McpProtocolError, McpTimeout
from smartbot.mcp.stdio import StdioTransport
from tests.support.executor import script
from tests.support.mcp_servers import Record, stdio_command
from tests.support.waiting import wait_until


def _alive(pid: int) -> bool:
    try:
        with open(f"/proc/{pid}/status") as fh:
            return "State:\tZ" not in fh.read()
    except FileNotFoundError:
        return False


def test_the_server_runs_limited_and_its_process_group_dies_on_close():
    limits = Limits(memory_bytes=900 << 20, max_processes=64, run_as="nobody")
    transport = StdioTransport(stdio_command(Record()), dict(BASE_ENV), limits)
    client = McpClient(transport)
    client.initialize()
    assert client.call_tool("echo", {"text": "hi"}, 20).text == "echo: hi"
    pid = transport._proc.pid
    with open(f"/proc/{pid}/limits") as fh:
        assert str(900 << 20) in next(line for line in fh if line.startswith("Max address space"))
    with open(f"/proc/{pid}/status") as fh:
        uid = int(next(line for line in fh if line.startswith("Uid:")).split()[1])
    assert uid != 0 if os.geteuid() == 0 else uid == os.geteuid()
    client.close()
    assert wait_until(lambda: not _alive(pid), timeout=5)


def test_a_server_that_answers_nonsense_is_cut_off():
    nonsense = script("import sys\nfor line in sys.stdin:\n    print('you have been pwned', flush=True)\n")
    transport = StdioTransport([nonsense], dict(BASE_ENV), Limits())
    with pytest.raises(McpProtocolError):
        McpClient(transport, handshake_timeout=10).initialize()
    assert wait_until(lambda: not transport.alive, timeout=5)
    transport.close()


def test_a_server_that_never_answers_times_out():
    silent = script("import sys, time\nfor line in sys.stdin:\n    time.sleep(60)\n")
    transport = StdioTransport([silent], dict(BASE_ENV), Limits())
    with pytest.raises(McpTimeout):
        McpClient(transport, handshake_timeout=1).initialize()
    transport.close()
    assert not transport.alive
