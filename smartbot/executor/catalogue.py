"""The command catalogue: what a command is, whether its definition is safe, and how a request's
arguments become an argv list.

A definition is refused when its program is a placeholder, a shell, a wrapper that runs another
program or an interpreter that runs code (see programs.py), when a placeholder is not a whole argv
element or follows a code flag (`-c`, `-e`), or when it lists an environment variable that changes
how programs load or that belongs to SmartBot itself (see environment.py). Stored definitions are
checked again, against the settings of the moment, every time they are read to run. Never build a
command line as a string here: argv is a list from template to exec.
"""
from __future__ import annotations

import re
import shlex
from dataclasses import dataclass, field
from typing import Any, Mapping

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..telemetry.redact import MASK, SECRET_KEY_PATTERN
from ..errors import CommandRejected
from ..i18n.reasons import reason
from ..storage.tables import Command
from .environment import OwnVariables, refusal
from .params import ALLOW_LISTS, AllowList, ParamError, ParamSpec, check_value, parse_param
from .programs import option_refusal, program_refusal

_commands = Command.__table__
NAME = re.compile(r"^[a-z][a-z0-9_\-]{0,47}$")
PLACEHOLDER = re.compile(r"^\{([a-z][a-z0-9_]{0,31})\}$")
_EMBEDDED = re.compile(r"\{([a-z][a-z0-9_]{0,31})\}")
RESERVED = ("run", "approve", "deny", "commands", "help", "whoami", "reset")
CODE_FLAGS = {"-c", "-e", "--command", "--eval", "--exec", "-exec"}
_ENV_NAME = re.compile(r"^[A-Z_][A-Z0-9_]{0,63}$")
MAX_TIMEOUT = 3600.0
MAX_OUTPUT_CAP = 1_048_576


class DefinitionError(ValueError):
    """A definition is wrong; `unsafe` when it would run code or hand over a secret (worth auditing)."""

    def __init__(self, field_name: str, reason: str, unsafe: bool = False) -> None:
        self.field = field_name
        self.reason = reason
        self.unsafe = unsafe
        super().__init__(f"{field_name}: {reason}")


@dataclass(frozen=True)
class CommandSpec:
    name: str
    argv: tuple[str, ...]
    params: tuple[ParamSpec, ...] = ()
    description: str = ""
    permission: str = ""
    timeout: float = 30.0
    output_cap: int = 8000
    workdir: str = "/"
    env: tuple[str, ...] = ()
    needs_approval: bool = False
    enabled: bool = True
    source: str = "db"
    extra: dict[str, Any] = field(default_factory=dict, compare=False)

    @property
    def required_permission(self) -> str:
        return self.permission or f"command:run:{self.name}"

    def usage(self) -> str:
        parts = [f"/{self.name}"]
        for p in self.params:
            parts.append(f"<{p.name}>" if p.required else f"[{p.name}]")
        return " ".join(parts)

    def secret_values(self, values: Mapping[str, str]) -> list[str]:
        """The checked values of parameters that are secret (marked so, or named like a secret)."""
        secret = {p.name for p in self.params if p.secret or SECRET_KEY_PATTERN.search(p.name)}
        return [v for k, v in values.items() if k in secret]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "argv": list(self.argv),
                "params": [p.to_dict() for p in self.params], "permission": self.permission,
                "timeout": self.timeout, "output_cap": self.output_cap, "workdir": self.workdir,
                "env": list(self.env), "needs_approval": self.needs_approval, "enabled": self.enabled,
                "source": self.source}


def check_definition(data: Mapping[str, Any], own: OwnVariables | None = None) -> CommandSpec:
    """A CommandSpec from a definition dict, or DefinitionError naming the field that is wrong.

    `own` (SmartBot's own variables now) refuses an `env` naming one: the API passes it when it
    stores a definition and the handlers when they run one ([[commands]] are checked when the
    settings are loaded)."""
    name = data.get("name")
    if not isinstance(name, str) or not NAME.match(name):
        raise DefinitionError("name", reason("reason.command_def.name"))
    if name in RESERVED:
        raise DefinitionError("name", reason("reason.command_def.reserved", name=repr(name)))
    params = _check_params(data.get("params") or [])
    argv = _check_argv(data.get("argv"), {p.name for p in params})
    permission = data.get("permission") or ""
    if permission and (not isinstance(permission, str) or not permission.startswith("command:run:")
                       or not NAME.match(permission.split(":", 2)[2] or "-")):
        raise DefinitionError("permission", reason("reason.command_def.permission"))
    timeout = _number(data, "timeout", 30.0, 0.1, MAX_TIMEOUT)
    output_cap = int(_number(data, "output_cap", 8000, 64, MAX_OUTPUT_CAP))
    workdir = data.get("workdir") or "/"
    if not isinstance(workdir, str) or not workdir.startswith("/") or "\x00" in workdir:
        raise DefinitionError("workdir", reason("reason.command_def.absolute"))
    env = data.get("env") or []
    if not isinstance(env, list):
        raise DefinitionError("env", reason("reason.command_def.env"))
    for i, var in enumerate(env):
        if not isinstance(var, str) or not _ENV_NAME.match(var):
            raise DefinitionError(f"env[{i}]", reason("reason.command_def.env_name"))
        why = refusal(var, own)
        if why:
            raise DefinitionError(f"env[{i}]", why, unsafe=True)
    for key in ("needs_approval", "enabled"):
        if key in data and not isinstance(data[key], bool):
            raise DefinitionError(key, reason("reason.field.bool"))
    description = data.get("description") or ""
    if not isinstance(description, str) or len(description) > 500:
        raise DefinitionError("description", reason("reason.workflow_def.description"))
    return CommandSpec(name=name, argv=tuple(argv), params=tuple(params), description=description,
                       permission=permission, timeout=timeout, output_cap=output_cap, workdir=workdir,
                       env=tuple(env), needs_approval=bool(data.get("needs_approval", False)),
                       enabled=bool(data.get("enabled", True)), source=str(data.get("source") or "db"))


def _number(data: Mapping[str, Any], key: str, default: float, low: float, high: float) -> float:
    value = data.get(key, default)
    if value is None:
        return default
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise DefinitionError(key, reason("reason.workflow_def.number", low=f"{low:g}", high=f"{high:g}"))
    return float(value)


def _check_params(raw: Any) -> list[ParamSpec]:
    if not isinstance(raw, list):
        raise DefinitionError("params", reason("reason.command_def.params"))
    params: list[ParamSpec] = []
    for i, item in enumerate(raw):
        try:
            spec = parse_param(item, ALLOW_LISTS)
        except ParamError as exc:
            raise DefinitionError(f"params[{i}]" + (f".{exc.field}" if exc.field else ""), exc.reason) from None
        if any(p.name == spec.name for p in params):
            raise DefinitionError(f"params[{i}].name", reason("reason.command_def.twice", name=repr(spec.name)))
        params.append(spec)
    return params


def _check_argv(argv: Any, names: set[str]) -> list[str]:
    if not isinstance(argv, list) or not argv:
        raise DefinitionError("argv", reason("reason.command_def.argv"))
    used: set[str] = set()
    for i, item in enumerate(argv):
        if not isinstance(item, str) or not item or "\x00" in item or len(item) > 1000:
            raise DefinitionError(f"argv[{i}]", reason("reason.command_def.argv_item"))
        if i == 0 and _EMBEDDED.search(item):
            raise DefinitionError("argv[0]", reason("reason.command_def.program_placeholder"),
                                  unsafe=True)
        whole = PLACEHOLDER.match(item)
        if whole:
            if whole.group(1) not in names:
                raise DefinitionError(f"argv[{i}]", reason("reason.command_def.undeclared",
                                                           name="{" + whole.group(1) + "}"))
            if argv[i - 1] in CODE_FLAGS:
                raise DefinitionError(f"argv[{i}]", reason("reason.command_def.after_code_flag", flag=argv[i - 1]),
                                      unsafe=True)
            used.add(whole.group(1))
            continue
        embedded = [n for n in _EMBEDDED.findall(item) if n in names]
        if embedded:
            raise DefinitionError(f"argv[{i}]", reason("reason.command_def.embedded", name="{" + embedded[0] + "}"))
        why = option_refusal(item) if i else ""
        if why:
            raise DefinitionError(f"argv[{i}]", why, unsafe=True)
    why = program_refusal(argv[0])
    if why:
        raise DefinitionError("argv[0]", why, unsafe=True)
    unused = names - used
    if unused:
        raise DefinitionError("params", reason("reason.command_def.unused", name=repr(sorted(unused)[0])))
    return list(argv)


# -- requests -------------------------------------------------------------------------------
def parse_chat_args(text: str) -> list[str]:
    """Split the text after `/name` into tokens (quotes group words); nothing here is a shell."""
    try:
        return shlex.split(text, comments=False, posix=True)
    except ValueError as exc:
        raise CommandRejected(reason("reason.command_args.unreadable", problem=str(exc))) from None


def bind_args(spec: CommandSpec, tokens: list[str] | None = None,
              named: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """Map chat tokens (positional, or `param=value`) or a tool call's object onto the parameters."""
    values: dict[str, Any] = {}
    by_name = {p.name: p for p in spec.params}
    if named is not None:
        for key, value in named.items():
            if key not in by_name:
                raise CommandRejected(reason("reason.command_args.no_such", name=spec.name, param=repr(str(key)[:40])))
            values[key] = value
        return values
    plain = []
    for token in tokens or []:
        key, eq, value = token.partition("=")
        if eq and key in by_name:
            values[key] = value
        else:
            plain.append(token)
    free = [p for p in spec.params if p.name not in values]
    if len(plain) > len(free):
        raise CommandRejected(reason("reason.command_args.too_many", usage=spec.usage()))
    # With fewer values than parameters, the required ones take them first (`/tail app.log`).
    spare = len(plain) - sum(1 for p in free if p.required)
    slots = []
    for p in free:
        if p.required or spare > 0:
            slots.append(p.name)
            spare -= 0 if p.required else 1
    values.update(zip(slots, plain))
    return values


def build_argv(spec: CommandSpec, values: Mapping[str, Any], allow_list: AllowList) -> tuple[list[str], dict[str, str]]:
    """The argv to run and the checked values, or CommandRejected naming the parameter."""
    checked: dict[str, str] = {}
    for p in spec.params:
        if p.name in values:
            checked[p.name] = check_value(p, values[p.name], allow_list)
        elif p.default is not None:
            checked[p.name] = check_value(p, p.default, allow_list)
        elif p.required:
            raise CommandRejected(reason("reason.command_args.missing", name=p.name, usage=spec.usage()))
    argv: list[str] = []
    for item in spec.argv:
        m = PLACEHOLDER.match(item)
        if m is None:
            argv.append(item)
        elif m.group(1) in checked:
            argv.append(checked[m.group(1)])
    return argv, checked


def redacted_argv(spec: CommandSpec, argv: list[str], values: Mapping[str, str]) -> list[str]:
    """argv for the audit log: values of secret parameters are masked."""
    secret = set(spec.secret_values(values))
    return [MASK if a in secret else a for a in argv]


# -- storage --------------------------------------------------------------------------------
def spec_from_row(row: Row[Any], own: OwnVariables | None = None) -> CommandSpec:
    """The stored command, checked again as a new definition would be (DefinitionError if it fails)."""
    data = {"name": row.name, "description": row.description, "argv": row.argv, "params": row.params,
            "permission": row.permission, "timeout": row.timeout, "output_cap": row.output_cap,
            "workdir": row.workdir, "env": row.env, "needs_approval": row.needs_approval,
            "enabled": row.enabled, "source": row.source}
    return check_definition(data, own)


def row_values(spec: CommandSpec) -> dict[str, Any]:
    data = spec.to_dict()
    data.pop("name")
    return data


def get(conn: Connection, name: str, own: OwnVariables | None = None) -> CommandSpec | None:
    row = conn.execute(sa.select(_commands).where(_commands.c.name == name)).first()
    return spec_from_row(row, own) if row is not None else None


def all_commands(conn: Connection, enabled_only: bool = False, own: OwnVariables | None = None) -> list[CommandSpec]:
    query = sa.select(_commands).order_by(_commands.c.name)
    if enabled_only:
        query = query.where(_commands.c.enabled.is_(True))
    specs = []
    for row in conn.execute(query).all():
        try:
            specs.append(spec_from_row(row, own))
        except DefinitionError:
            continue   # a row stored before a check existed (or by hand) is never offered or run
    return specs


def refused_rows(conn: Connection, own: OwnVariables) -> list[tuple[str, str]]:
    """(name, why) of every stored command that fails today's checks: refused when asked to run."""
    refused = []
    for row in conn.execute(sa.select(_commands).order_by(_commands.c.name)).all():
        try:
            spec_from_row(row, own)
        except DefinitionError as exc:
            refused.append((row.name, str(exc)))
    return refused
