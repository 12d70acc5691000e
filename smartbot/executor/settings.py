"""The [executor], [approvals] and [[commands]] settings: what this server lets commands touch.

Every allow list is empty by default, and empty means deny: no host may be pinged, no log file
tailed, no path read, no service restarted until the operator names them here. Commands never run
as root: when SmartBot itself runs as root they run as `run_as` (default "nobody").
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Any, Callable

from ..errors import ConfigError
from ..settings.schema import setting
from .catalogue import DefinitionError, check_definition
from .environment import own_reason
from .params import ALLOW_LISTS

_HOST = re.compile(r"^[A-Za-z0-9](?:[A-Za-z0-9.\-]{0,251}[A-Za-z0-9])?(?::[0-9]{1,5})?$|^\[[0-9A-Fa-f:.]+\](?::[0-9]{1,5})?$")
_SERVICE = re.compile(r"^[A-Za-z0-9_][A-Za-z0-9_.:\-]{0,99}$")


def check_hosts(hosts: list[str], path: str, example: str) -> None:
    """Every entry of a host allow list is a host name or address (with an optional :port)."""
    for i, host in enumerate(hosts):
        if not _HOST.match(host):
            raise ConfigError(f"{path}[{i}]", f"{host!r} is not a host name or address",
                              f"write it like {example}, 10.0.0.5 or 127.0.0.1:8080")


@dataclass
class ExecutorSettings:
    allowed_hosts: list[str] = setting([], help="hosts (or host:port) that ping / http_check may reach")
    log_files: list[str] = setting([], help="absolute paths of the log files `tail` may read")
    path_roots: list[str] = setting([], help="absolute folders that path parameters may point into")
    services: list[str] = setting([], help="supervisor program names service_status / service_restart may name")
    run_as: str = setting("nobody", help="the user commands run as when SmartBot runs as root (never root)")
    max_concurrent: int = setting(4, minimum=1, help="commands running at once in one process; more wait")
    tool_rounds: int = setting(3, minimum=1, help="model <-> tool round trips per message at most")
    tool_calls_per_round: int = setting(4, minimum=1)
    cpu_seconds: int = setting(30, minimum=1, help="CPU time one command may use")
    memory_mb: int = setting(512, minimum=16, help="address space one command may map")
    file_size_mb: int = setting(16, minimum=1, help="largest file one command may write")
    max_processes: int = setting(32, minimum=1, help="processes one command may add (contains fork bombs)")

    def validate(self, path: str) -> None:
        check_hosts(self.allowed_hosts, f"{path}.allowed_hosts", "web-1.example.com")
        for key in ("log_files", "path_roots"):
            for i, item in enumerate(getattr(self, key)):
                if not item.startswith("/") or "\x00" in item or "\n" in item:
                    raise ConfigError(f"{path}.{key}[{i}]", f"{item!r} is not an absolute path",
                                      "write the full path, e.g. /var/log/app.log")
        for i, name in enumerate(self.services):
            if not _SERVICE.match(name):
                raise ConfigError(f"{path}.services[{i}]", f"{name!r} is not a supervisor program name")
        if self.run_as in ("root", "0", ""):
            raise ConfigError(f"{path}.run_as", "commands must not run as root",
                              "name an unprivileged user, e.g. \"nobody\" or \"smartbot\"")

    def allow_list(self, name: str) -> list[str]:
        """The operator's list a parameter refers to by name (`choices_from` / `roots_from`)."""
        return list(getattr(self, name)) if name in ALLOW_LISTS else []


@dataclass
class ApprovalsSettings:
    notify: list[str] = setting([], help="chats told about new requests, as \"<channel>:<chat_id>\"")
    expire_minutes: float = setting(60.0, minimum=1, help="a pending request is dropped after this long")

    def validate(self, path: str) -> None:
        for i, target in enumerate(self.notify):
            channel, _, chat_id = target.partition(":")
            if not channel or not chat_id:
                raise ConfigError(f"{path}.notify[{i}]", f"{target!r} is not \"<channel>:<chat_id>\"",
                                  "e.g. \"telegram:-1001234\" or \"generic:ops-room\"")

    def targets(self) -> list[tuple[str, str]]:
        return [tuple(t.split(":", 1)) for t in self.notify]  # type: ignore[misc]


@dataclass
class CommandSettings:
    """One [[commands]] entry of smartbot.toml, provisioned into the catalogue at start."""

    name: str = setting(required=True, help="give each [[commands]] entry a unique name")
    argv: list[str] = setting(required=True, help="the program and its arguments, e.g. [\"df\", \"-h\"]")
    description: str = setting("")
    params: list[dict[str, Any]] = setting([])
    permission: str = setting("", help="defaults to command:run:<name>")
    timeout: float = setting(30.0, minimum=0.1)
    output_cap: int = setting(8000, minimum=64)
    workdir: str = setting("/")
    env: list[str] = setting([], help="names of environment variables the command may see")
    needs_approval: bool = setting(False)
    enabled: bool = setting(True)

    def validate(self, path: str) -> None:
        try:
            check_definition(self.definition())
        except DefinitionError as exc:
            raise ConfigError(f"{path}.{exc.field}", exc.reason) from None

    def check_variables(self, path: str, is_own: Callable[[str], bool]) -> None:
        """An `env` entry naming one of SmartBot's own variables stops start-up (which variables
        those are is known only once every setting is read)."""
        for i, var in enumerate(self.env):
            if is_own(var):
                raise ConfigError(f"{path}.env[{i}]", own_reason(var), "remove it from the command's env")

    def definition(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "argv": list(self.argv),
                "params": [dict(p) for p in self.params], "permission": self.permission or "",
                "timeout": self.timeout, "output_cap": self.output_cap, "workdir": self.workdir,
                "env": list(self.env), "needs_approval": self.needs_approval, "enabled": self.enabled}
