"""MCP servers stored in the database (added through the admin page or API) as server settings,
and the version counter that tells every process they changed."""
from __future__ import annotations

from fnmatch import fnmatchcase
from typing import Any, Callable, Mapping

import sqlalchemy as sa

from ..errors import ConfigError
from ..executor.environment import OwnVariables, refusal
from ..httputil import url_refusal
from ..i18n.reasons import reason
from ..storage.runtime_settings import get_setting
from ..storage.tables import McpServer
from .client_settings import McpServerSettings

VERSION_KEY = "mcp_servers.version"
_servers = McpServer.__table__


def settings_of(values: Mapping[str, Any]) -> McpServerSettings:
    """Server settings from a stored row or a request body (checked by the caller with validate())."""
    headers = values.get("headers_env") or {}
    if not isinstance(headers, dict) or not all(isinstance(k, str) and isinstance(v, str)
                                                for k, v in headers.items()):
        raise ConfigError("headers_env", "must map header names to variable names (text)")
    return McpServerSettings(name=str(values.get("name", "")), url=str(values.get("url") or ""),
                             headers_env=dict(headers), tools=list(values.get("tools") or []),
                             needs_approval=list(values.get("needs_approval") or []),
                             timeout=float(values.get("timeout", 30.0)),
                             refresh_seconds=float(values.get("refresh_seconds", 300.0)))


def variable_refusal(name: str, own: OwnVariables, key_patterns: list[str]) -> str:
    """Why a stored server may not send the variable `name` ("" when it may): one of SmartBot's own,
    a loader variable, or a provider key variable (a provider's key goes to its provider only)."""
    if any(fnmatchcase(name, pattern) for pattern in key_patterns):
        return reason("reason.mcp.provider_key", name=name)
    return refusal(name, own)


def load(db: Any, settings: Any, own: OwnVariables) -> tuple[int, list[McpServerSettings]]:
    """(version, the stored servers that still pass the checks, against the settings of now: the
    allowed hosts, SmartBot's own variables); one that does not is left out, never contacted."""
    with db.read() as conn:
        version = int(get_setting(conn, VERSION_KEY, 0) or 0)
        rows = conn.execute(sa.select(_servers).order_by(_servers.c.name)).all()
    found = []
    for row in rows:
        try:
            config = settings_of(row._mapping)
            config.validate(f"mcp_servers.{row.name}")
        except ConfigError:
            continue
        if url_refusal(config.url, settings.mcp.client_hosts) or any(
                variable_refusal(v, own, settings.security.provider_key_envs) for v in config.headers_env.values()):
            continue
        found.append(config)
    return version, found


class StoredServers:
    """The stored servers as a registry reads them: a cheap version check, a full read on change."""

    def __init__(self, db: Any, settings: Any, own: Callable[[], OwnVariables]) -> None:
        self._db = db
        self._settings = settings
        self._own = own

    def version(self) -> int:
        with self._db.read() as conn:
            return int(get_setting(conn, VERSION_KEY, 0) or 0)

    def load(self) -> tuple[int, list[McpServerSettings]]:
        return load(self._db, self._settings, self._own())
