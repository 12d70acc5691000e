"""The MCP servers of smartbot.toml, each behind one handle that connects when first needed,
starts a stdio server again when it died, lists its tools again when they changed (or grew old),
and remembers its last error for the admin page.

Calls are masked before they leave: a tool result never carries SmartBot's own secrets or the
values of the server's own headers. A handle that failed to connect waits RETRY_SECONDS before it
tries again, so a server that is down costs a chat one attempt, not one per message. Nothing here
checks who may call what: the pipeline does that before it calls.
"""
from __future__ import annotations

import base64
import logging
import os
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Mapping, Sequence

from ..executor.environment import OwnVariables, child_environment
from ..executor.runner import Limits
from ..telemetry.redact import mask_text
from .client import CallResult, McpClient
from .client_settings import TOOL_NAME, McpServerSettings
from .http_transport import HttpTransport
from .jsonrpc import McpError, McpTransportError
from .stdio import StdioTransport
from .refresher import Refresher
from .stored import StoredServers
from .tools import McpTool, model_name, split_model_name

log = logging.getLogger(__name__)
RETRY_SECONDS = 5.0
LIST_TIMEOUT = 10.0
SYNC_SECONDS = 1.0          # how often the stored servers' version is looked at, at most
OUTPUT_CAP = 8000           # characters of a result kept, as a command's default output cap


@dataclass
class ToolOutcome:
    """A finished call: its text (masked, capped), how big it was, whether the tool said it failed,
    and the images it returned as reply files ({"name", "mime", "data": base64})."""

    text: str
    is_error: bool
    result_bytes: int
    truncated: bool
    duration: float
    files: list[dict[str, str]] = field(default_factory=list)


class ServerHandle:
    def __init__(self, config: McpServerSettings, env: Mapping[str, str], limits: Limits,
                 own: Callable[[], OwnVariables]) -> None:
        self.config = config
        self._env = env
        self._limits = limits
        self._own = own
        self._lock = threading.Lock()
        self._client: McpClient | None = None
        self._pid = os.getpid()
        self._tools: list[McpTool] = []
        self._listed_at = 0.0
        self._retry_at = 0.0
        self.last_error = ""
        self.restarts = 0

    @property
    def kind(self) -> str:
        return "stdio" if self.config.command else "http"

    def tools(self) -> list[McpTool]:
        """The tools this server offers through the allow-list (connecting or refreshing if needed)."""
        with self._lock:
            self._ready()
            return list(self._tools)

    def cached_tools(self) -> list[McpTool]:
        with self._lock:
            return list(self._tools)

    def call(self, tool: str, arguments: dict[str, Any], timeout: float) -> ToolOutcome:
        with self._lock:
            client = self._ready()
        started = time.monotonic()
        try:
            result = client.call_tool(tool, arguments, min(timeout, self.config.timeout))
        except McpError as exc:
            self._note_failure(client, exc)
            raise
        return self._outcome(result, time.monotonic() - started)

    def test(self) -> None:
        """Connect again from scratch, list the tools and ping: what the admin page's test does."""
        with self._lock:
            self._drop(count=False)
            self._retry_at = 0.0
            client = self._ready()
        try:
            client.ping(LIST_TIMEOUT)
        except McpError as exc:
            self._note_failure(client, exc)
            raise

    def state(self) -> dict[str, Any]:
        with self._lock:
            connected = self._client is not None and self._client.transport.alive and self._pid == os.getpid()
            tools = list(self._tools)
            return {"name": self.config.name, "kind": self.kind, "connected": connected,
                    "target": self.config.url or self.config.command[0], "last_error": self.last_error,
                    "restarts": self.restarts, "listed_at": self._listed_at or None,
                    "tools": [{"name": t.name, "permission": t.permission, "needs_approval": t.needs_approval,
                               "description": t.description, "model_name": t.model_name} for t in tools]}

    def close(self) -> None:
        with self._lock:
            self._drop(count=False)

    def refresh_if_due(self) -> None:
        """List the tools again if the list is older than refresh_seconds or the server said they
        changed, only when connected in this process (the timer's job: refresher.py)."""
        if not self._lock.acquire(timeout=0.1):     # a call or a listing is under way: next tick
            return
        try:
            client = self._client
            if client is None or self._pid != os.getpid() or not client.transport.alive:
                return
            if time.monotonic() - self._listed_at > self.config.refresh_seconds or client.tools_changed.is_set():
                try:
                    self._list()
                except McpError as exc:
                    self.last_error = self._tail(exc.reason)
                    self._listed_at = time.monotonic()      # tried: wait a whole period before the next try
        finally:
            self._lock.release()

    def _ready(self) -> McpClient:
        """The connected client, with a fresh tool list (under the lock)."""
        if self._pid != os.getpid():            # forked: the parent's process and threads are not ours
            self._client, self._pid = None, os.getpid()
        if self._client is not None and not self._client.transport.alive:
            self.last_error = self._tail("the server stopped")
            self._drop(count=True)
        if self._client is None:
            if time.monotonic() < self._retry_at:
                raise McpTransportError(f"not connected ({self.last_error or 'a recent attempt failed'})")
            self._connect()
        assert self._client is not None
        stale = time.monotonic() - self._listed_at > self.config.refresh_seconds
        if stale or self._client.tools_changed.is_set():
            self._list()
        return self._client

    def _connect(self) -> None:
        try:
            client = McpClient(self._transport())
            self._client = client
            client.initialize()
            self._list()
        except McpError as exc:
            self.last_error = self._tail(exc.reason)
            self._drop(count=False)
            self._retry_at = time.monotonic() + RETRY_SECONDS
            raise
        self.last_error = ""

    def _transport(self) -> Any:
        def forward(message: dict[str, Any]) -> None:
            if self._client is not None:
                self._client.on_notification(message)
        if self.config.command:
            env = child_environment(self.config.env, self._env, self._own())
            return StdioTransport(list(self.config.command), env, self._limits, self.config.workdir, forward)
        return HttpTransport(self.config.url, self._headers(), forward)

    def _headers(self) -> dict[str, str]:
        headers = {}
        for header, var in self.config.headers_env.items():
            if not self._env.get(var):
                raise McpTransportError(f"the variable {var} for the {header} header is not set")
            headers[header] = self._env[var]
        return headers

    def _list(self) -> None:
        """The server's tools through the allow-list; a name no permission can spell (a colon, a
        space) is left out rather than offered."""
        assert self._client is not None
        listed = self._client.list_tools(LIST_TIMEOUT)
        self._tools = [McpTool(self.config.name, t.name, t.description, t.input_schema,
                               t.name in self.config.needs_approval)
                       for t in listed if TOOL_NAME.match(t.name) and self.config.offers(t.name)]
        self._listed_at = time.monotonic()

    def _note_failure(self, client: McpClient, exc: McpError) -> None:
        with self._lock:
            self.last_error = self._tail(exc.reason)
            if isinstance(exc, McpTransportError) and self._client is client and not client.transport.alive:
                self._drop(count=True)

    def _drop(self, count: bool) -> None:
        if self._client is not None:
            self._client.close()
            self.restarts += count
        self._client = None

    def _tail(self, reason: str) -> str:
        """The reason with the last line the server wrote to stderr, masked."""
        tail = list(self._client.transport.stderr_tail)[-1:] if self._client is not None else []
        return mask_text(" | ".join([reason, *tail])[:500], self.secrets())

    def secrets(self) -> list[str]:
        """Values a result or an error text must never show."""
        own = self._own()
        return own.secret_values(self._env) + [self._env.get(v, "") for v in self.config.headers_env.values()]

    def _outcome(self, result: CallResult, duration: float) -> ToolOutcome:
        text = mask_text(result.text, self.secrets())
        size = len(text.encode("utf-8"))
        truncated = len(text) > OUTPUT_CAP
        size += sum(len(base64.b64decode(f["data"])) for f in result.files)
        return ToolOutcome(text[:OUTPUT_CAP], result.is_error, size, truncated, duration, result.files)


class McpRegistry:
    """Every server by name: those of smartbot.toml, and those stored through the admin page or API
    (read again when their version moves, checked at most every SYNC_SECONDS; a changed or removed
    one is closed). A stored server never shadows one of the file."""

    def __init__(self, servers: Sequence[McpServerSettings], env: Mapping[str, str], limits: Limits,
                 own: Callable[[], OwnVariables], stored: StoredServers | None = None) -> None:
        self._env, self._limits, self._own = env, limits, own
        self._file = {s.name: ServerHandle(s, env, limits, own) for s in servers}
        self._source = stored
        self._stored: dict[str, ServerHandle] = {}
        self._version: int | None = None
        self._checked_at = 0.0
        self._sync_lock = threading.Lock()
        self._refresher = Refresher(lambda: [*self._stored.values(), *self._file.values()])

    @property
    def servers(self) -> dict[str, ServerHandle]:
        self._sync()
        if self._stored or self._file:
            self._refresher.ensure_running()
        return {**self._stored, **self._file}

    def from_file(self, name: str) -> bool:
        return name in self._file

    def get(self, name: str) -> ServerHandle | None:
        return self.servers.get(name)

    def sync_now(self, reload: bool = False) -> None:
        """Look at the stored servers' version at once (the admin page and API, after a change made in
        any process); `reload`: read them again even if it did not move (the settings changed)."""
        self._checked_at = 0.0
        if reload:
            self._version = None
        self._sync()

    def _sync(self) -> None:
        if self._source is None or time.monotonic() - self._checked_at < SYNC_SECONDS:
            return
        with self._sync_lock:
            if time.monotonic() - self._checked_at < SYNC_SECONDS:
                return
            try:
                if self._source.version() != self._version:
                    self._version, configs = self._source.load()
                    self._replace({c.name: c for c in configs if c.name not in self._file})
            except Exception:       # the database is away: keep the servers as they were, try again later
                log.exception("could not read the stored MCP servers")
            self._checked_at = time.monotonic()

    def _replace(self, configs: dict[str, McpServerSettings]) -> None:
        kept = {}
        for name, handle in self._stored.items():
            if configs.get(name) == handle.config:
                kept[name] = handle
            else:
                handle.close()
        for name, config in configs.items():
            if name not in kept:
                kept[name] = ServerHandle(config, self._env, self._limits, self._own)
        self._stored = kept

    def resolve(self, function_name: str) -> tuple[ServerHandle, str] | None:
        """The server and the tool name a model's function name means (the tool may not exist)."""
        found = split_model_name(function_name, list(self.servers))
        if found is None:
            return None
        handle = self.servers[found[0]]
        for tool in handle.cached_tools():
            if model_name(tool.server, tool.name) == function_name:
                return handle, tool.name
        return handle, found[1]

    def close(self) -> None:
        self._refresher.stop()
        for handle in [*self._stored.values(), *self._file.values()]:
            handle.close()
