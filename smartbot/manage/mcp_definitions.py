"""MCP servers added, changed and removed through the admin page or API (admin:mcp).

Only Streamable HTTP servers can be added here. A stdio server is a program SmartBot starts, with
no per-call permission between defining it and running it (listing its tools or testing it starts
it), so defining one would give an admin area code execution on this server: stdio servers are
defined in smartbot.toml only, and a body with `command` or `env` is refused (403, audited).

What a stored server may do is bounded like a workflow's http step and a provider's key:
- its URL's host (or host:port) must be in [mcp] client_hosts (empty: none), https only (plain
  http only to loopback), no credentials in it; SmartBot never follows a redirect;
- `headers_env` names variables, never values, and never one of SmartBot's own (signing key,
  DATABASE_URL, SMARTBOT_*, a channel's or provider's secret, a stored provider's key variable),
  nor a provider key variable ([security] provider_key_envs, *_API_KEY), nor a variable another
  server (in the file or stored) sends to another origin;
- the same checks as the file's [[mcp_servers]] (names, tool lists, timeouts: finite, 1 to 600).
Servers from smartbot.toml are shown read-only. Every change and every refusal is audited.
"""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any, Iterator
from urllib.parse import parse_qsl, urlsplit

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .. import audit
from ..auth.rbac import Principal
from ..errors import ConfigError
from ..executor.environment import own_variables
from ..httputil import url_refusal
from ..i18n.reasons import reason
from ..mcp.client_settings import MAX_TIMEOUT, NAME, McpServerSettings
from ..mcp.stored import VERSION_KEY, settings_of, variable_refusal
from ..storage.runtime_settings import bump
from ..storage.tables import McpServer
from ..telemetry.redact import SECRET_KEY_PATTERN
from . import changes
from .errors import Conflict, Forbidden, Invalid, NotFound
from .fields import List, Num, Obj, Str

_servers = McpServer.__table__
MAX_REFRESH = 86400.0
COLUMNS = ("url", "headers_env", "tools", "needs_approval", "timeout", "refresh_seconds")

FIELDS = {
    "name": Str(required=True, max_length=32, pattern=NAME.pattern.strip("^$"),
                description="lower-case letters, digits, - and _ (it is in the permission mcp:<name>:<tool>)"),
    "url": Str(max_length=2000, description="the Streamable HTTP endpoint; its host must be in [mcp] client_hosts"),
    "command": List(item=Str(max_length=1000), max_items=100,
                    description="refused: stdio servers are defined in smartbot.toml only"),
    "env": List(item=Str(max_length=128), max_items=50, description="refused: only a stdio server gets variables"),
    "headers_env": Obj(description="HTTP header -> name of the environment variable holding its value "
                                   "(never one of SmartBot's own)"),
    "tools": List(item=Str(max_length=128), max_items=500, description="allow-list; empty: every tool it lists"),
    "needs_approval": List(item=Str(max_length=128), max_items=500, description="tools that wait for an approver"),
    "timeout": Num(minimum=1, maximum=MAX_TIMEOUT, description="seconds per call"),
    "refresh_seconds": Num(minimum=1, maximum=MAX_REFRESH, description="the tool list is fetched again this often"),
}


class _Refused(Invalid):
    """A refusal for safety: audited once the transaction that found it is over."""


def stored(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(sa.select(_servers).where(_servers.c.name == name)).first()


def as_dict(row: Row[Any]) -> dict[str, Any]:
    return {"name": row.name, **{c: getattr(row, c) for c in COLUMNS}, "source": "db",
            "created_by": row.created_by}


def create(runtime: Any, caller: Principal, body: dict[str, Any]) -> dict[str, Any]:
    name = str(body.get("name", ""))[:32]
    _refuse_stdio(runtime, caller, name, body)
    if "__" in name:          # mcp__<a__b>__<c> would read like another server's tool to the model
        raise Invalid(reason("reason.mcp.double_underscore"), "name")
    if runtime.mcp.from_file(name):
        raise Conflict(reason("reason.mcp.in_file", name=repr(name)), "name")
    with _changing(runtime, caller, name) as conn:
        config = _checked(runtime, conn, body)
        if stored(conn, config.name) is not None:
            raise Conflict(reason("reason.mcp.exists", name=repr(config.name)), "name")
        values = {c: getattr(config, c) for c in COLUMNS}
        conn.execute(sa.insert(_servers).values(name=config.name, created_by=changes.actor_of(caller), **values))
        after = as_dict(stored(conn, config.name))
        changes.record(conn, changes.actor_of(caller), "mcp.server_created", f"mcp:{config.name}", None, after)
    return after


def update(runtime: Any, caller: Principal, name: str, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("name", name) != name:
        raise Invalid(reason("reason.mcp.rename"), "name")
    _refuse_stdio(runtime, caller, name, body)
    with _changing(runtime, caller, name) as conn:
        before = as_dict(_writable(runtime, conn, name))
        config = _checked(runtime, conn, {**{c: before[c] for c in COLUMNS}, **body, "name": name})
        conn.execute(sa.update(_servers).where(_servers.c.name == name)
                     .values(**{c: getattr(config, c) for c in COLUMNS}))
        after = as_dict(stored(conn, name))
        changes.record(conn, changes.actor_of(caller), "mcp.server_updated", f"mcp:{name}", before, after)
    return after


def remove(runtime: Any, caller: Principal, name: str) -> None:
    with _changing(runtime, caller, name) as conn:
        before = as_dict(_writable(runtime, conn, name))
        conn.execute(sa.delete(_servers).where(_servers.c.name == name))
        changes.record(conn, changes.actor_of(caller), "mcp.server_deleted", f"mcp:{name}", before, None)


@contextmanager
def _changing(runtime: Any, caller: Principal, name: str) -> Iterator[Connection]:
    """One change of the stored servers: its transaction (with the version every process watches
    bumped), a refusal for safety audited once that transaction is over, and this process synced."""
    try:
        with runtime.db.write() as conn:
            yield conn
            bump(conn, runtime.db, VERSION_KEY)
    except _Refused as exc:
        _audit_refusal(runtime.db, caller, name, exc.field or "", exc.reason)
        raise
    runtime.mcp.sync_now()


def _writable(runtime: Any, conn: Connection, name: str) -> Row[Any]:
    if runtime.mcp.from_file(name):
        raise Conflict(reason("reason.mcp.from_file", name=repr(name)))
    row = stored(conn, name)
    if row is None:
        raise NotFound(reason("reason.mcp.no_server", name=repr(name[:40])))
    return row


def _refuse_stdio(runtime: Any, caller: Principal, name: str, body: dict[str, Any]) -> None:
    for key in ("command", "env"):
        if body.get(key):
            _audit_refusal(runtime.db, caller, name, key, "stdio servers are defined in smartbot.toml only")
            raise Forbidden(reason("reason.mcp.stdio_in_file"), key)


def _checked(runtime: Any, conn: Connection, body: dict[str, Any]) -> McpServerSettings:
    """The body as server settings, after the file's checks and the stricter ones for stored servers."""
    try:
        config = settings_of(body)
        if not config.url:
            raise ConfigError("url", reason("reason.mcp.url_needed"))
        config.validate("")
    except ConfigError as exc:
        raise Invalid(exc.problem + (f" ({exc.fix})" if exc.fix else ""), exc.key.lstrip(".")) from None
    query = urlsplit(config.url).query
    if any(SECRET_KEY_PATTERN.search(key) for key, _ in parse_qsl(query, keep_blank_values=True)):
        raise Invalid(reason("reason.mcp.secret_in_url"), "url")     # it would be stored and audited as it is
    if url_refusal(config.url, runtime.settings.mcp.client_hosts):
        host = (urlsplit(config.url).hostname or "").lower()
        raise _Refused(reason("reason.mcp.host", host=repr(host)), "url")
    own = own_variables(runtime.settings, conn)
    for header, var in config.headers_env.items():
        why = variable_refusal(var, own, runtime.settings.security.provider_key_envs) or \
            _shared(runtime, conn, config, var)
        if why:
            raise _Refused(why, f"headers_env.{header}")
    return config


def _shared(runtime: Any, conn: Connection, config: McpServerSettings, var: str) -> str:
    """Why `var` may not go to this server's origin: another server sends it to a different one."""
    others = [s for s in runtime.settings.mcp_servers if s.name != config.name]
    others += [settings_of(dict(r._mapping)) for r in conn.execute(sa.select(_servers)).all()
               if r.name != config.name]
    for other in others:
        named = set(other.env) | set(other.headers_env.values())
        if var in named and (not other.url or _origin(other.url) != _origin(config.url)):
            return reason("reason.mcp.variable_shared", name=var, server=other.name)
    return ""


def _origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{(parts.hostname or '').lower()}:{parts.port or ''}"


def _audit_refusal(db: Any, caller: Principal, name: str, field: str, why: str) -> None:
    with db.write() as conn:
        audit.record(conn, "mcp.definition_refused", changes.actor_of(caller), f"mcp:{name[:32]}", "denied",
                     {"field": field, "reason": why})
