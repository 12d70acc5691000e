"""What one MCP tool call costs through SmartBot's client, over the official SDK's client calling the
same server (the raw call), for a stdio server and a Streamable HTTP server.

    python bench/mcp_call.py [--calls 200] [--rounds 4]

The server is the SDK test server (tests/support/mcp_tool_server.py), its `echo` tool, started once
per transport in its own process. Each round times `--calls` sequential calls on an open session
with each client, alternating which goes first; printed: the median per-call latency of each
client per round and over all rounds, and SmartBot's overhead (its median minus the SDK's).
"SmartBot" here is the server handle the chat and workflows use (McpRegistry: the client, the
tool list, masking the result); the permission check and the audit row around it are not timed.
"""
from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from mcp import ClientSession, StdioServerParameters  # noqa: E402
from mcp.client.stdio import stdio_client  # noqa: E402
from mcp.client.streamable_http import streamablehttp_client  # noqa: E402

from smartbot.executor.environment import BASE_ENV, OwnVariables  # noqa: E402
from smartbot.executor.runner import Limits  # noqa: E402
from smartbot.mcp.client_settings import McpServerSettings  # noqa: E402
from smartbot.mcp.registry import McpRegistry  # noqa: E402
from tests.support.mcp_servers import Record, stdio_command  # noqa: E402


def _sdk_times(session_factory, calls: int) -> list[float]:
    async def run() -> list[float]:
        async with session_factory() as (read, write, *_):
            async with ClientSession(read, write) as session:
                await session.initialize()
                await session.call_tool("echo", {"text": "warm"})
                times = []
                for i in range(calls):
                    started = time.perf_counter()
                    await session.call_tool("echo", {"text": f"hello {i}"})
                    times.append(time.perf_counter() - started)
                return times
    return asyncio.run(run())


def _smartbot_times(registry: McpRegistry, name: str, calls: int) -> list[float]:
    handle = registry.get(name)
    handle.call("echo", {"text": "warm"}, 30)
    times = []
    for i in range(calls):
        started = time.perf_counter()
        handle.call("echo", {"text": f"hello {i}"}, 30)
        times.append(time.perf_counter() - started)
    return times


def _ms(values: list[float]) -> float:
    return statistics.median(values) * 1000


def measure(label: str, sdk, smartbot, calls: int, rounds: int) -> None:
    all_sdk, all_ours = [], []
    for r in range(rounds):
        pair = [("sdk", sdk), ("smartbot", smartbot)]
        if r % 2:
            pair.reverse()
        got = {name: fn(calls) for name, fn in pair}
        all_sdk += got["sdk"]
        all_ours += got["smartbot"]
        print(f"  {label} round {r + 1}: sdk {_ms(got['sdk']):.3f} ms, smartbot {_ms(got['smartbot']):.3f} ms")
    print(f"{label}: median per call  sdk {_ms(all_sdk):.3f} ms  smartbot {_ms(all_ours):.3f} ms  "
          f"overhead {_ms(all_ours) - _ms(all_sdk):+.3f} ms  (p90 sdk {statistics.quantiles(all_sdk, n=10)[-1] * 1000:.3f}"
          f" / smartbot {statistics.quantiles(all_ours, n=10)[-1] * 1000:.3f} ms; {len(all_sdk)} calls each)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--calls", type=int, default=200)
    parser.add_argument("--rounds", type=int, default=4)
    options = parser.parse_args()
    record = Record()
    command = stdio_command(record)
    own = OwnVariables(lambda name: name.startswith("SMARTBOT_"))
    http = subprocess.Popen([*command, "http"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    try:
        port = int(http.stdout.readline())
        url = f"http://127.0.0.1:{port}/mcp"
        servers = [McpServerSettings(name="stdio", command=command), McpServerSettings(name="http", url=url)]
        registry = McpRegistry(servers, dict(os.environ), Limits(run_as="nobody"), lambda: own)
        params = StdioServerParameters(command=command[0], args=command[1:], env=dict(BASE_ENV))
        quiet = open(os.devnull, "w")      # the server logs each request on stderr; nobody reads it here
        measure("stdio", lambda n: _sdk_times(lambda: stdio_client(params, errlog=quiet), n),
                lambda n: _smartbot_times(registry, "stdio", n), options.calls, options.rounds)
        measure("http ", lambda n: _sdk_times(lambda: streamablehttp_client(url), n),
                lambda n: _smartbot_times(registry, "http", n), options.calls, options.rounds)
        registry.close()
    finally:
        http.terminate()
        http.wait(10)


if __name__ == "__main__":
    main()
