"""Settings: read once from smartbot.toml (path in SMARTBOT_CONFIG), overridden by SMARTBOT_* env vars.

`SMARTBOT_<SECTION>__<KEY>` overrides `[section] key`; numeric parts index lists
(`SMARTBOT_PROVIDERS__0__MODEL`). Environment variables whose first part is not a known setting
(SMARTBOT_CONFIG, SMARTBOT_SECRET_KEY, ...) are not overrides. Anything wrong stops start-up with a
`ConfigError` naming the key and the fix. Nothing else in SmartBot reads os.environ for settings.
"""
from __future__ import annotations

import logging
import os
import tomllib
from dataclasses import fields
from pathlib import Path
from typing import Any, Mapping

from ..errors import ConfigError
from .schema import _suggest, build, drop_retired
from .sections import ENV_PREFIX, RETIRED_KEYS, ConnectionSettings, Settings

log = logging.getLogger(__name__)
_warned: set[str] = set()

def load(config: Mapping[str, Any] | str | os.PathLike | None = None,
         env: Mapping[str, str] | None = None) -> Settings:
    """Read the settings: a dict (tests), a TOML path, or SMARTBOT_CONFIG when None."""
    env = dict(os.environ if env is None else env)
    base_dir = Path.cwd()
    path_text = ""
    if config is None:
        config = env.get(f"{ENV_PREFIX}CONFIG") or None
    if config is None:
        data: dict[str, Any] = {}
    elif isinstance(config, Mapping):
        data = _deep_copy(config)
    else:
        path = Path(config)
        path_text = str(path)
        try:
            with open(path, "rb") as fh:
                data = tomllib.load(fh)
        except FileNotFoundError:
            raise ConfigError("SMARTBOT_CONFIG", f"file {path} does not exist",
                              "point SMARTBOT_CONFIG at your smartbot.toml") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError("SMARTBOT_CONFIG", f"{path} is not valid TOML ({exc})", "fix the syntax") from None
        base_dir = path.resolve().parent
    if "database_url" not in data and not env.get(f"{ENV_PREFIX}DATABASE_URL") and env.get("DATABASE_URL"):
        data["database_url"] = env["DATABASE_URL"]
    _apply_env_overrides(data, env)
    retired = drop_retired(data, RETIRED_KEYS, env, ENV_PREFIX, path_text)
    named = _named_variables(data)
    channels_raw = data.pop("channels", {}) or {}
    settings = build(Settings, data, "", env)
    settings.channels, settings.connections = _build_channels(channels_raw, env)
    settings.config_path = path_text
    settings.retired = retired
    settings.database_url = _resolve_sqlite_path(settings.database_url, base_dir)
    for name in ("log_file", "key_file"):
        value = getattr(settings.audit, name)
        if value and not os.path.isabs(value):
            setattr(settings.audit, name, str(base_dir / value))
    settings.secret_key = _secret_key(settings, env, _key_file(settings.secret_key_file, base_dir if path_text else None))
    settings.secret_variables = frozenset(named | {settings.secret_key_env})
    for i, command in enumerate(settings.commands):
        command.check_variables(f"commands[{i}]", settings.is_server_secret)
    for i, server in enumerate(settings.mcp_servers):
        server.check_variables(f"mcp_servers[{i}]", settings.is_server_secret)
    return settings


def warn_retired(settings: Settings) -> None:
    """Log each retired key the settings held, once per process: a gunicorn master's warning covers
    the workers it forks, which read the same file again."""
    for notice in settings.retired:
        if notice not in _warned:
            _warned.add(notice)
            log.warning("%s", notice)


def _named_variables(data: Any) -> set[str]:
    """Every environment variable the configuration names as holding a secret (`x_env` keys:
    channel secrets, providers' `api_key_env`, `secret_key_env`)."""
    found: set[str] = set()
    if isinstance(data, Mapping):
        for key, value in data.items():
            if str(key).endswith("_env") and isinstance(value, str) and value:
                found.add(value)
            else:
                found |= _named_variables(value)
    elif isinstance(data, list):
        for item in data:
            found |= _named_variables(item)
    return found


def _build_channels(raw: Any, env: Mapping[str, str]) -> tuple[dict[str, Any], ConnectionSettings]:
    """The `[channels.<name>]` tables, and the keys of `[channels]` itself (`takeover_seconds`)."""
    from ..channels import registry
    from ..channels.base import connects
    from ..channels.connect import registry as connectors

    if not isinstance(raw, dict):
        raise ConfigError("channels", "expected a table of [channels.<name>] sections")
    own = {f.name for f in fields(ConnectionSettings)}
    built = {}
    for name, section in raw.items():
        if name in own:
            continue
        spec = registry.spec(name)
        if spec is None:
            raise ConfigError(f"channels.{name}", "is not a known channel",
                              f"known channels: {', '.join(registry.names())}; "
                              f"{_suggest(name, [*registry.names(), *own])}")
        built[name] = build(spec.config_class, section, f"channels.{name}", env)
        if connects(built[name]):
            connectors.check(name)
    connection = build(ConnectionSettings, {k: v for k, v in raw.items() if k in own}, "channels", env)
    return built, connection


def _apply_env_overrides(data: dict[str, Any], env: Mapping[str, str]) -> None:
    top = {f.name for f in fields(Settings) if f.name not in ("config_path", "secret_key", "retired")}
    for var, value in sorted(env.items()):
        if not var.startswith(ENV_PREFIX):
            continue
        parts = [p.lower() for p in var[len(ENV_PREFIX):].split("__")]
        if parts[0] not in top:
            continue
        _set_path(data, parts, value, var)


def _set_path(data: Any, parts: list[str], value: str, var: str) -> None:
    node = data
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit():
                raise ConfigError(var, f"'{part}' should be a list index", "use e.g. SMARTBOT_PROVIDERS__0__MODEL")
            index = int(part)
            while len(node) <= index:
                node.append({})
            if last:
                node[index] = value
            else:
                node = node[index]
            continue
        if last:
            node[part] = value
            return
        nxt = node.get(part)
        if nxt is None:
            nxt = [] if parts[i + 1].isdigit() else {}
            node[part] = nxt
        node = nxt


def _resolve_sqlite_path(url: str, base_dir: Path) -> str:
    """Relative SQLite paths are taken from the config file's folder, and that folder is created."""
    prefix = "sqlite:///"
    if not url.startswith(prefix) or url == "sqlite://" or url.startswith("sqlite:///:memory:"):
        return url
    raw = url[len(prefix):]
    db_path = Path(raw.split("?", 1)[0])
    if not db_path.is_absolute():
        db_path = base_dir / db_path
    db_path.parent.mkdir(parents=True, exist_ok=True)
    query = ("?" + raw.split("?", 1)[1]) if "?" in raw else ""
    return f"{prefix}{db_path}{query}"


def _key_file(value: str, config_dir: Path | None) -> Path | None:
    """The key file's path; a relative one only beside a config file (never the working folder)."""
    if not value:
        return None
    path = Path(value)
    if path.is_absolute():
        return path
    return config_dir / path if config_dir else None


def _secret_key(settings: Settings, env: Mapping[str, str], key_file: Path | None) -> str:
    """The signing key: the variable `secret_key_env` names, else the key file (what start.sh
    writes), so the server and every `smartbot` command read the same key the same way. The fix
    never says to make a new key: logins and the audit chain of an existing database are signed
    with the old one."""
    var = settings.secret_key_env
    value, source = env.get(var, ""), f"the key in {var}"
    if not value and key_file is not None and key_file.is_file():
        value, source = _read_key_file(key_file), f"the key in {key_file}"
    if not value:
        where = f" and there is no key file {key_file}" if key_file else ""
        raise ConfigError("secret_key_env", f"environment variable {var} is not set{where}",
                          f"use the key the server runs with, not a new one: put it in "
                          f"{key_file or 'the file secret_key_file names'} (chmod 600) or export {var}. "
                          f"./scripts/start.sh keeps its key in var/secret_key beside var/smartbot.toml; an "
                          f"installed server keeps it in {var} (run commands as /opt/smartbot/bin/smartbot)")
    if len(value) < 32:
        raise ConfigError("secret_key_env", f"{source} is shorter than 32 characters",
                          "use a random value of at least 32 characters")
    return value


def _read_key_file(path: Path) -> str:
    """A key file other users can read is refused, as ssh refuses such a private key."""
    if path.stat().st_mode & 0o077:
        raise ConfigError("secret_key_file", f"{path} can be read or written by other users",
                          f"chmod 600 {path}")
    try:
        return path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError("secret_key_file", f"{path} cannot be read ({type(exc).__name__})",
                          "check its owner and permissions") from None


def _deep_copy(data: Any) -> Any:
    if isinstance(data, Mapping):
        return {k: _deep_copy(v) for k, v in data.items()}
    if isinstance(data, list):
        return [_deep_copy(v) for v in data]
    return data
