"""Turns plain TOML/env data into typed settings dataclasses, naming the key of every error.

The schema is the dataclasses themselves: type hints say how to convert, `setting(...)` metadata
says what is required, allowed or secret. A secret field `x` may instead be given as `x_env`, the
name of an environment variable that holds it, so the file itself never needs to hold the secret.
"""
from __future__ import annotations

import dataclasses
import difflib
import functools
import json
import os
import typing
from typing import Any, Callable
from urllib.parse import urlparse

from ..errors import ConfigError

_MISSING = dataclasses.MISSING


def setting(default: Any = _MISSING, *, required: bool = False, secret: bool = False, url: bool = False,
            choices: tuple[str, ...] = (), minimum: float | None = None, help: str = "") -> Any:
    """A dataclass field carrying validation metadata."""
    meta = {"required": required, "secret": secret, "url": url, "choices": choices,
            "minimum": minimum, "help": help}
    if isinstance(default, (list, dict)):
        factory: Callable[[], Any] = (lambda d=default: type(d)(d))
        return dataclasses.field(default_factory=factory, metadata=meta)
    if default is _MISSING:
        return dataclasses.field(default="" if required else None, metadata=meta)
    return dataclasses.field(default=default, metadata=meta)


def _suggest(name: str, options: typing.Iterable[str]) -> str:
    close = difflib.get_close_matches(name, list(options), n=1)
    return f"did you mean '{close[0]}'?" if close else "remove it or check the documentation"


def build(cls: type, data: Any, path: str, env: typing.Mapping[str, str] | None = None) -> Any:
    """Build dataclass `cls` from `data`, converting and validating every field."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise ConfigError(path, f"expected a table, got {type(data).__name__}")
    hints = _type_hints(cls)
    fields = {f.name: f for f in dataclasses.fields(cls) if f.init}
    known = set(fields) | {f"{n}_env" for n, f in fields.items() if f.metadata.get("secret")}
    for key in data:
        if key not in known:
            raise ConfigError(_join(path, key), "unknown key", _suggest(key, known))
    values: dict[str, Any] = {}
    for name, f in fields.items():
        key = _join(path, name)
        meta = f.metadata
        if name in data:
            values[name] = _convert(hints[name], data[name], key, env)
        elif meta.get("secret") and f"{name}_env" in data:
            var = str(data[f"{name}_env"])
            if not env.get(var):
                raise ConfigError(f"{key}_env", f"environment variable {var} is not set",
                                  f"export {var}=<the value> before starting")
            values[name] = env[var]
        elif meta.get("required"):
            raise ConfigError(key, "is required but missing", meta.get("help") or f"set {key} in smartbot.toml")
        if name in values:
            _validate(values[name], meta, key)
    obj = cls(**values)
    check = getattr(obj, "validate", None)
    if check is not None:
        check(path)
    return obj


@functools.lru_cache(maxsize=None)
def _type_hints(cls: type) -> dict[str, Any]:
    """The evaluated annotations of a settings class, worked out once per process (and under gunicorn
    once in the master, for every worker: evaluating them again in each worker would fill typing's
    caches in its private memory)."""
    return typing.get_type_hints(cls)


def drop_retired(data: dict[str, Any], retired: typing.Mapping[str, str], env: typing.Mapping[str, str],
                 env_prefix: str, source: str) -> tuple[str, ...]:
    """Take keys that no longer do anything out of `data`, so that an older smartbot.toml (or
    environment) still starts, and say of each one found where it is set and why it is ignored.

    `retired` maps a dotted key ("jobs.ack_spool") to the reason; `source` names the file.
    """
    notices = []
    for dotted, why in retired.items():
        *sections, name = dotted.split(".")
        node: Any = data
        for section in sections:
            node = node.get(section) if isinstance(node, dict) else None
        if not isinstance(node, dict) or name not in node:
            continue
        del node[name]
        var = env_prefix + "__".join(part.upper() for part in dotted.split("."))
        fix = f"unset {var}" if var in env else f"remove it from {source or 'the configuration'}"
        notices.append(f"{dotted} no longer does anything ({why}); {fix}")
    return tuple(notices)


def require_unique_names(section: str, items: typing.Sequence[Any]) -> None:
    """Entries of an array of tables ([[providers]], [[rules]], ...) are found by name: no two alike."""
    names = [item.name for item in items]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(section, f"two entries are named {name!r}", "give each a unique name")


def _join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key


def _validate(value: Any, meta: typing.Mapping[str, Any], key: str) -> None:
    if meta.get("required") and value in ("", None):
        raise ConfigError(key, "must not be empty", meta.get("help") or "")
    choices = meta.get("choices")
    if choices and value not in choices:
        raise ConfigError(key, f"must be one of {', '.join(choices)}, got {value!r}")
    minimum = meta.get("minimum")
    if minimum is not None and value is not None and value < minimum:
        raise ConfigError(key, f"must be at least {minimum}, got {value!r}")
    if meta.get("url") and value:
        parsed = urlparse(str(value))
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ConfigError(key, f"must be an http(s) URL, got {value!r}",
                              "write it like https://host/path")


def _convert(hint: Any, value: Any, key: str, env: typing.Mapping[str, str]) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is typing.Union or str(origin) == "types.UnionType":
        inner = [a for a in args if a is not type(None)]
        if value is None:
            return None
        return _convert(inner[0], value, key, env)
    if dataclasses.is_dataclass(hint):
        return build(hint, value, key, env)
    if origin in (list, tuple):
        if isinstance(value, str):
            value = _list_from_text(value)
        if not isinstance(value, list):
            raise ConfigError(key, f"expected a list, got {type(value).__name__}")
        return [_convert(args[0] if args else Any, v, f"{key}[{i}]", env) for i, v in enumerate(value)]
    if origin is dict:
        if isinstance(value, str):
            try:
                value = json.loads(value)
            except ValueError:
                raise ConfigError(key, "expected a table (as JSON when given in the environment)") from None
        if not isinstance(value, dict):
            raise ConfigError(key, f"expected a table, got {type(value).__name__}")
        vtype = args[1] if len(args) == 2 else Any
        return {str(k): _convert(vtype, v, f"{key}.{k}", env) for k, v in value.items()}
    if hint is bool:
        return _to_bool(value, key)
    if hint in (int, float):
        try:
            if isinstance(value, bool):
                raise ValueError
            return hint(value)
        except (TypeError, ValueError):
            raise ConfigError(key, f"expected a number, got {value!r}") from None
    if hint is str:
        if isinstance(value, (dict, list)):
            raise ConfigError(key, f"expected text, got {type(value).__name__}")
        return str(value)
    return value


def _to_bool(value: Any, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = str(value).strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise ConfigError(key, f"expected true or false, got {value!r}")


def _list_from_text(text: str) -> list[Any]:
    text = text.strip()
    if text.startswith("["):
        try:
            return list(json.loads(text))
        except ValueError:
            pass
    return [part.strip() for part in text.split(",") if part.strip()]
