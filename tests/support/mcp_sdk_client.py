"""The official MCP SDK's client, as an IDE would use it, against SmartBot's own /mcp."""
from __future__ import annotations

import asyncio
from typing import Any, Awaitable, Callable

import httpx
from mcp import ClientSession
from mcp.client.streamable_http import streamable_http_client


def sdk(app: Any, token: str, work: Callable[[ClientSession], Awaitable[Any]]) -> Any:
    """Run `work` in an initialized SDK session against the app's /mcp with `token`."""
    async def go() -> Any:
        async with httpx.AsyncClient(headers={"Authorization": f"Bearer {token}"}, timeout=30) as http:
            async with streamable_http_client(app.url + "/mcp", http_client=http) as (read, write, _session_id):
                async with ClientSession(read, write) as session:
                    await session.initialize()
                    return await work(session)
    return asyncio.run(go())
