"""An MCP tool server written with the official SDK (FastMCP): the other side of the wire for the
MCP client tests, over stdio (run as a script) or Streamable HTTP (McpHttpServer in mcp_servers.py).

Every tools/call is appended to the record file as a JSON line {"tool", "args"} before the tool
runs, so a test can prove a refused call never reached the server. Run as a stdio server:

    /usr/bin/python3 -I mcp_tool_server.py <site-packages> <record file> [http]

(the site-packages folder comes as an argument: the child gets no PYTHONPATH, and it runs as
"nobody" when the tests run as root, so it uses the system Python and reads the SDK from there).
"""

import json
import os
import sys
import time


def build(record: str, **options):  # noqa: ANN001, ANN201 - the SDK is imported late (see the docstring)
    import anyio
    from mcp.server.fastmcp import Context, FastMCP

    app = FastMCP("smartbot-test-tools", **options)

    def note(tool: str, args: dict) -> None:
        with open(record, "a", encoding="utf-8") as fh:
            fh.write(json.dumps({"tool": tool, "args": args, "at": time.time()}) + "\n")

    @app.tool()
    def echo(text: str) -> str:
        """Say the text back."""
        note("echo", {"text": text})
        return f"echo: {text}"

    @app.tool()
    def add(a: int, b: int) -> int:
        """Add two whole numbers."""
        note("add", {"a": a, "b": b})
        return a + b

    @app.tool()
    def delete_file(path: str) -> str:
        """Delete a file (needs an approval in the tests' configuration)."""
        note("delete_file", {"path": path})
        return f"deleted {path}"

    @app.tool()
    def shutdown_all() -> str:
        """A dangerous tool the tests leave out of the allow-list."""
        note("shutdown_all", {})
        return "everything is down"

    @app.tool()
    async def hang(seconds: float = 60.0) -> str:
        """Never answers in time."""
        note("hang", {"seconds": seconds})
        await anyio.sleep(seconds)
        return "woke up"

    @app.tool()
    def crash() -> str:
        """Ends the server process (stdio only)."""
        note("crash", {})
        os._exit(3)

    @app.tool()
    def environment() -> str:
        """The names of the environment variables the server got, and MCP_TEST_TOKEN's value."""
        note("environment", {})
        return json.dumps({"names": sorted(os.environ), "token": os.environ.get("MCP_TEST_TOKEN", "")})

    def odd() -> str:
        """Listed under a name with a colon, which no permission can spell."""
        note("odd", {})
        return "odd"

    app.add_tool(odd, name="odd:name")

    def fresh() -> str:
        """A tool that appears after grow."""
        note("fresh", {})
        return "fresh!"

    @app.tool()
    async def grow(ctx: Context) -> str:
        """Adds the tool `fresh` and tells the client its tools changed."""
        note("grow", {})
        app.add_tool(fresh)
        await ctx.session.send_tool_list_changed()
        return "grown"

    @app.tool(structured_output=False)
    def picture() -> list:
        """An image, an embedded text resource, a binary one, a resource link and an image too large."""
        from mcp import types

        note("picture", {})
        png = ("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mP8z8BQDwAEhQGAhKmMIQAAAABJRU5E"
               "rkJggg==")
        return [types.TextContent(type="text", text="here it is"),
                types.ImageContent(type="image", data=png, mimeType="image/png"),
                types.EmbeddedResource(type="resource", resource=types.TextResourceContents(
                    uri="file:///notes/today.md", mimeType="text/markdown", text="# Today\nall quiet")),
                types.EmbeddedResource(type="resource", resource=types.BlobResourceContents(
                    uri="file:///bin/blob", mimeType="application/octet-stream", blob="AAAA" * 10)),
                types.ResourceLink(type="resource_link", uri="https://files.example.com/report.pdf",
                                   name="report", mimeType="application/pdf", description="the monthly report"),
                types.ImageContent(type="image", data="QUFB" * 750_000, mimeType="image/png"),
                types.ImageContent(type="image", data=png, mimeType="text/html")]

    @app.tool()
    def weather(city: str) -> dict:
        """Structured output: the tool's dict comes back as structuredContent (and as text)."""
        note("weather", {"city": city})
        return {"city": city, "celsius": 21.5, "sky": "clear"}

    def later() -> str:
        """A tool that appears after quiet_grow, with no notification sent."""
        note("later", {})
        return "later!"

    @app.tool()
    def quiet_grow() -> str:
        """Adds the tool `later` without telling the client."""
        note("quiet_grow", {})
        app.add_tool(later)
        return "grown quietly"

    return app


def serve_http(record: str) -> None:
    """Streamable HTTP on a loopback port the OS picks, printed as the first line of stdout."""
    import socket

    import uvicorn

    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    sock.listen(64)
    print(sock.getsockname()[1], flush=True)
    server = uvicorn.Server(uvicorn.Config(build(record).streamable_http_app(), log_level="warning",
                                                 timeout_graceful_shutdown=2))
    server.run(sockets=[sock])


if __name__ == "__main__":
    sys.path.insert(0, sys.argv[1])
    if sys.argv[3:] == ["http"]:
        serve_http(sys.argv[2])
    else:
        build(sys.argv[2]).run("stdio")
