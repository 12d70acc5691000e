"""The [[mcp_servers]] entries of smartbot.toml: which MCP servers SmartBot connects to, what they
may receive, and which of their tools it offers.

Servers are defined only in the file, by whoever runs the server: a stdio server is a program
SmartBot starts, so defining one is defining what runs here. A server gets only the variables its
`env` names and sends only the headers `headers_env` takes from variables; neither may name one of
SmartBot's own variables (its signing key, database, SMARTBOT_* settings, any channel's or
provider's secret).
"""
from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Callable, Mapping
from urllib.parse import urlsplit

from ..errors import ConfigError
from ..executor.environment import own_reason, refusal
from ..executor.runner import resolve_program
from ..settings.schema import setting

NAME = re.compile(r"^[a-z0-9][a-z0-9_-]{0,31}$")
TOOL_NAME = re.compile(r"^[A-Za-z0-9_.\-]{1,128}$")
VARIABLE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")
HEADER = re.compile(r"^[A-Za-z0-9!#$%&'*+.^_`|~-]{1,64}$")
# Headers the transport sets itself: a configured value would break or hijack the session.
RESERVED_HEADERS = frozenset({"host", "content-type", "content-length", "accept", "mcp-session-id",
                              "mcp-protocol-version", "transfer-encoding", "connection", "cookie"})
MAX_TIMEOUT = 600.0


@dataclass
class McpServerSettings:
    name: str = setting(required=True, help="lower-case letters, digits, - and _ (it is in the permission "
                                            "mcp:<name>:<tool>)")
    command: list[str] = setting([], help="a stdio server: the program (absolute path or on the fixed PATH) "
                                          "and its arguments; or give url")
    url: str = setting("", help="a Streamable HTTP server's endpoint, https://... (http:// only to loopback)")
    env: list[str] = setting([], help="names of environment variables a stdio server receives; nothing else")
    headers_env: dict[str, str] = setting({}, help="HTTP headers taken from environment variables, "
                                                  "e.g. { Authorization = \"FILES_TOKEN\" }")
    tools: list[str] = setting([], help="the tools offered; empty: every tool the server lists")
    needs_approval: list[str] = setting([], help="tools that wait for an approver (approval:decide) first")
    timeout: float = setting(30.0, minimum=1, help="seconds one call may take (at most 600)")
    refresh_seconds: float = setting(300.0, minimum=1, help="the tool list is fetched again this often "
                                                           "(and whenever the server says it changed)")
    workdir: str = setting("/", help="a stdio server's working directory")

    def validate(self, path: str) -> None:
        if not NAME.match(self.name):
            raise ConfigError(f"{path}.name", f"{self.name!r} is not a server name",
                              "use lower-case letters, digits, - and _ (at most 32), e.g. \"files\"")
        if bool(self.command) == bool(self.url):
            raise ConfigError(path, "needs exactly one of command (a stdio server) and url (Streamable HTTP)")
        if self.command and (not all(isinstance(a, str) and a and "\x00" not in a for a in self.command)):
            raise ConfigError(f"{path}.command", "every argument must be non-empty text")
        if self.url:
            _check_url(f"{path}.url", self.url)
        if not math.isfinite(self.timeout) or self.timeout > MAX_TIMEOUT:
            raise ConfigError(f"{path}.timeout", f"must be a number of seconds from 1 to {MAX_TIMEOUT:g}")
        if not math.isfinite(self.refresh_seconds):
            raise ConfigError(f"{path}.refresh_seconds", "must be a finite number of seconds")
        if not self.workdir.startswith("/"):
            raise ConfigError(f"{path}.workdir", "must be an absolute path")
        for i, name in enumerate(self.env):
            why = "is not a variable name" if not VARIABLE.match(name) else refusal(name, None)
            if why:
                raise ConfigError(f"{path}.env[{i}]", f"{name!r}: {why}")
        for header, var in self.headers_env.items():
            if not HEADER.match(header) or header.lower() in RESERVED_HEADERS:
                raise ConfigError(f"{path}.headers_env.{header}", "is not a header SmartBot may set",
                                  "name a header like Authorization or X-Api-Key")
            if not VARIABLE.match(var):
                raise ConfigError(f"{path}.headers_env.{header}", f"{var!r} is not a variable name")
        if self.headers_env and not self.url:
            raise ConfigError(f"{path}.headers_env", "only an HTTP server (url) sends headers")
        for key in ("tools", "needs_approval"):
            for i, tool in enumerate(getattr(self, key)):
                if not TOOL_NAME.match(tool):
                    raise ConfigError(f"{path}.{key}[{i}]", f"{tool!r} is not a tool name")
        outside = [t for t in self.needs_approval if self.tools and t not in self.tools]
        if outside:
            raise ConfigError(f"{path}.needs_approval", f"{outside[0]!r} is not in tools",
                              "add it to tools, or remove it here")

    def check_variables(self, path: str, is_own: Callable[[str], bool]) -> None:
        """Neither `env` nor `headers_env` may name one of SmartBot's own variables (known only once
        every setting is read)."""
        named = [(f"{path}.env[{i}]", v) for i, v in enumerate(self.env)]
        named += [(f"{path}.headers_env.{h}", v) for h, v in self.headers_env.items()]
        for key, var in named:
            if is_own(var):
                raise ConfigError(key, own_reason(var), "name a variable that holds only this server's value")

    def problem(self, env: Mapping[str, str]) -> str:
        """What would stop SmartBot from starting or reaching this server ("" when nothing does):
        a program that is not installed, a variable it names that is not set."""
        if self.command and resolve_program(self.command[0]) is None:
            return f"{self.command[0]} is not installed (or not executable)"
        unset = [v for v in [*self.env, *self.headers_env.values()] if not env.get(v)]
        return f"the variable {unset[0]} is not set" if unset else ""

    def offers(self, tool: str) -> bool:
        """Whether the allow-list lets this tool through (an empty list lets every tool through)."""
        return not self.tools or tool in self.tools


def _check_url(key: str, url: str) -> None:
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        parts.port       # noqa: B018 - raises ValueError for a port that is not a number
    except ValueError:
        raise ConfigError(key, f"{url!r} is not a URL") from None
    if parts.scheme not in ("https", "http") or not host or parts.username or parts.password:
        raise ConfigError(key, f"{url!r} is not an http(s) URL without credentials",
                          "write it like https://mcp.example.com/mcp; put tokens in headers_env")
    if parts.scheme == "http" and host not in ("127.0.0.1", "localhost", "::1"):
        raise ConfigError(key, "plain http would send the headers in the clear",
                          "use https://, or http:// only to 127.0.0.1")
