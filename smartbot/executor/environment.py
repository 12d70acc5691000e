"""The environment a child process starts with (a catalogue command now, a stdio tool server later),
and which variables it may never receive.

SmartBot's own variables (its signing key, DATABASE_URL, every SMARTBOT_* setting, every variable a
channel or provider setting names, and the key variable of every provider in the database) never
reach a child, whatever its definition lists: a definition naming one is refused, and the builder
drops them again when the environment is built, because settings can change after a definition
was saved. The values of those secrets are also what command output is masked with. This module
must never log a variable's value.
"""
from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass
from typing import Any, Callable, Iterable, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..i18n.reasons import reason
from ..telemetry.redact import SECRET_KEY_PATTERN
from ..storage.tables import Provider

log = logging.getLogger(__name__)

FIXED_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
BASE_ENV = {"PATH": FIXED_PATH, "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
# Variables that change how a program is loaded or what code it runs, whoever owns them.
FORBIDDEN_ENV = {"PATH", "IFS", "ENV", "BASH_ENV", "PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PERL5LIB",
                 "PERL5OPT", "RUBYOPT", "RUBYLIB", "NODE_OPTIONS", "GCONV_PATH", "HOSTALIASES", "SHELLOPTS"}
_providers = Provider.__table__


@dataclass(frozen=True)
class OwnVariables:
    """SmartBot's own variables as they stand now, and the secret values its settings hold.

    `is_server_secret` is Settings.is_server_secret; `named` adds the variables named for secrets
    (the settings' `*_env` values and the providers' key variables from the database)."""

    is_server_secret: Callable[[str], bool]
    named: frozenset[str] = frozenset()
    setting_secrets: tuple[str, ...] = dataclasses.field(default=(), repr=False)

    def __contains__(self, name: object) -> bool:
        return isinstance(name, str) and (name in self.named or self.is_server_secret(name))

    def holds_secret(self, name: str) -> bool:
        """Whether the variable's value is a secret (SMARTBOT_LOG_LEVEL is SmartBot's, not a secret)."""
        return name in self.named or (name in self and bool(SECRET_KEY_PATTERN.search(name)
                                                            or name.endswith("DATABASE_URL")))

    def secret_values(self, source: Mapping[str, str]) -> list[str]:
        """The values to mask in whatever a child prints: its secrets set in `source`, and those in the settings."""
        return [value for name, value in source.items() if value and self.holds_secret(name)] + \
            list(self.setting_secrets)


def own_variables(settings: Any, conn: Connection | None = None) -> OwnVariables:
    """SmartBot's own variables for `settings`, with the key variables of the providers in the
    database when a connection is given (providers created in the admin page)."""
    keys: set[str] = set()
    if conn is not None:
        keys = {k for k in conn.execute(sa.select(_providers.c.api_key_env)).scalars() if k}
    return OwnVariables(settings.is_server_secret, frozenset(settings.secret_variables) | keys,
                        tuple(_secret_settings(settings)))


def _secret_settings(settings: Any) -> list[str]:
    """The signing key and every setting marked secret (a channel secret written in the file)."""
    found = [settings.secret_key] if getattr(settings, "secret_key", "") else []
    stack: list[Any] = [getattr(settings, "channels", {}), getattr(settings, "providers", [])]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif dataclasses.is_dataclass(item) and not isinstance(item, type):
            for f in dataclasses.fields(item):
                value = getattr(item, f.name, None)
                if f.metadata.get("secret") and isinstance(value, str) and value:
                    found.append(value)
                elif isinstance(value, (dict, list, tuple)) or dataclasses.is_dataclass(value):
                    stack.append(value)
    return found


def refusal(name: str, own: OwnVariables | None) -> str:
    """Why a child may not receive the variable `name` ("" when it may)."""
    if name in FORBIDDEN_ENV or name.startswith("LD_"):
        return reason("reason.program.loader_variable", name=name)
    if own is not None and name in own:
        return own_reason(name)
    return ""


def own_reason(name: str) -> str:
    return (f"{name} belongs to SmartBot (its signing key, database, settings or a channel's or provider's "
            "secret); a command or tool never receives it")


def child_environment(allowed: Iterable[str], source: Mapping[str, str], own: OwnVariables) -> dict[str, str]:
    """A fixed PATH and locale, plus the `allowed` variables set in `source` that a child may receive."""
    env = dict(BASE_ENV)
    for name in allowed:
        why = refusal(name, own)
        if why:
            log.warning("not passing %s to a child process: %s", name, why)
        elif name in source:
            env[name] = source[name]
    return env
