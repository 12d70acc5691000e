"""The [mcp] settings: SmartBot's own MCP server (/mcp), off unless `serve = true`, and the hosts
that MCP servers added through the admin page or API may be at (none unless listed)."""
from __future__ import annotations

import re
from dataclasses import dataclass

from ..errors import ConfigError
from ..settings.schema import setting
from ..executor.settings import check_hosts

MAX_CALL_TIMEOUT = 3600.0
ORIGIN = re.compile(r"^https?://[a-z0-9.\-\[\]:]+$")


@dataclass
class McpSettings:
    serve: bool = setting(False, help="serve SmartBot's commands, workflows and read-only views at /mcp to MCP "
                                      "clients holding a personal API token")
    call_timeout: float = setting(60.0, minimum=1, help="the longest a command called over /mcp may run, seconds "
                                                        "(a command's own shorter timeout still applies)")
    session_idle_minutes: float = setting(60.0, minimum=1, help="an MCP session unused this long is ended")
    allowed_origins: list[str] = setting([], help="browser origins (scheme://host:port) whose pages may call /mcp; "
                                                  "empty: no browser page may, only clients that send no Origin")
    client_hosts: list[str] = setting([], help="hosts (or host:port) that MCP servers added through the admin page "
                                               "or API may be at; empty: none (servers in this file are not limited)")

    def validate(self, path: str) -> None:
        if not 1 <= self.call_timeout <= MAX_CALL_TIMEOUT:        # also refuses NaN
            raise ConfigError(f"{path}.call_timeout", f"must be between 1 and {MAX_CALL_TIMEOUT:g} seconds",
                              "the default, 60, suits most clients")
        for i, origin in enumerate(self.allowed_origins):
            if not ORIGIN.match(origin):
                raise ConfigError(f"{path}.allowed_origins[{i}]", f"{origin!r} is not an origin",
                                  "write it like https://ide.example.com (lower case, no path)")
        check_hosts(self.client_hosts, f"{path}.client_hosts", "mcp.example.com")
