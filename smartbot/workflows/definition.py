"""Workflow definitions: YAML (read with `yaml.safe_load`, never a Python object) checked strictly
into plain dataclasses. Every error names its field, like `steps[2].kind`.

    name: disk-report
    description: Disk usage, summarised
    steps:
      - {name: usage, kind: command, command: disk}
      - {name: summary, kind: model, prompt: "Summarise: {{ steps.usage.output }}"}
      - {name: tell, kind: message, text: "{{ steps.summary.output }}"}
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any, Callable
from urllib.parse import urlparse


from ..executor.catalogue import DefinitionError  # one error type: a field name and why it is wrong
from ..httputil import url_refusal
from ..i18n.reasons import reason
from ..mcp.client_settings import NAME as MCP_SERVER, TOOL_NAME as MCP_TOOL
from . import templates
from .settings import WorkflowSettings

NAME = re.compile(r"^[a-z0-9][a-z0-9_\-]{0,63}$")
STEP_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,63}$")
KINDS = ("command", "model", "message", "http", "condition", "mcp")
ON_ERROR = ("stop", "continue")
CONDITION_THEN = ("stop", "skip_next")
MAX_RETRIES = 5
MAX_SOURCE = 100_000
DEFAULT_TIMEOUT = 60.0
_COMMON = {"name", "kind", "timeout", "retries", "on_error"}
_KIND_KEYS = {
    "command": {"command", "args"},
    "model": {"prompt", "system"},
    "message": {"text", "channel", "chat_id"},
    "http": {"url", "method", "body", "headers"},
    "condition": {"when", "then"},
    "mcp": {"server", "tool", "args"},
}
_REQUIRED = {"command": ("command",), "model": ("prompt",), "message": ("text",), "http": ("url",),
             "condition": ("when", "then"), "mcp": ("server", "tool")}


@dataclass(frozen=True)
class Step:
    name: str
    kind: str
    params: dict[str, Any]                  # the kind's own keys, templates unrendered
    timeout: float = DEFAULT_TIMEOUT
    retries: int = 0
    on_error: str = "stop"


@dataclass(frozen=True)
class Definition:
    name: str
    description: str
    steps: tuple[Step, ...]
    source: str = field(default="", compare=False)

    def step_names(self) -> list[str]:
        return [s.name for s in self.steps]


def load(source: str, settings: WorkflowSettings, name: str | None = None) -> Definition:
    """Parse and check YAML text; `name` (from the URL) must agree with the YAML's name if both are given.

    PyYAML is imported here, on the first workflow a process reads: imported at start it would take
    memory in every process of a deployment that may have no workflows.
    """
    import yaml

    if len(source) > MAX_SOURCE:
        raise DefinitionError("yaml", reason("reason.workflow_def.too_long", n=MAX_SOURCE))
    try:
        data = yaml.safe_load(source)
    except RecursionError:
        raise DefinitionError("yaml", reason("reason.workflow_def.too_deep")) from None
    except yaml.YAMLError as exc:
        where = getattr(exc, "problem_mark", None)
        problem = str(getattr(exc, "problem", None) or exc)
        said = (reason("reason.workflow_def.yaml", problem=problem) if where is None else
                reason("reason.workflow_def.yaml_at", line=where.line + 1, column=where.column + 1, problem=problem))
        raise DefinitionError("yaml", said) from None
    return check(data, settings, name, source)


def check(data: Any, settings: WorkflowSettings, name: str | None = None, source: str = "") -> Definition:
    if not isinstance(data, dict):
        raise DefinitionError("yaml", reason("reason.workflow_def.mapping"))
    _no_unknown(data, {"name", "description", "steps"}, "")
    given = data.get("name", name)
    if name is not None and given != name:
        raise DefinitionError("name", reason("reason.workflow_def.name_differs", given=repr(given), name=repr(name)))
    if not isinstance(given, str) or not NAME.match(given):
        raise DefinitionError("name", reason("reason.workflow_def.name"))
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 500:
        raise DefinitionError("description", reason("reason.workflow_def.description"))
    raw_steps = data.get("steps")
    if not isinstance(raw_steps, list) or not raw_steps:
        raise DefinitionError("steps", reason("reason.workflow_def.steps"))
    if len(raw_steps) > settings.max_steps:
        raise DefinitionError("steps", reason("reason.workflow_def.too_many_steps", count=len(raw_steps),
                                              n=settings.max_steps))
    steps: list[Step] = []
    for i, raw in enumerate(raw_steps):
        step = _step(raw, f"steps[{i}]", settings)
        if step.name in [s.name for s in steps]:
            raise DefinitionError(f"steps[{i}].name", reason("reason.workflow_def.step_twice", name=repr(step.name)))
        _check_refs(step, f"steps[{i}]", [s.name for s in steps])
        steps.append(step)
    return Definition(given, description, tuple(steps), source)


def _step(raw: Any, path: str, settings: WorkflowSettings) -> Step:
    if not isinstance(raw, dict):
        raise DefinitionError(path, reason("reason.workflow_def.step"))
    kind = raw.get("kind")
    if kind not in KINDS:
        raise DefinitionError(f"{path}.kind", reason("reason.field.one_of", choices=", ".join(KINDS)))
    _no_unknown(raw, _COMMON | _KIND_KEYS[kind], path)
    name = raw.get("name")
    if not isinstance(name, str) or not STEP_NAME.match(name):
        raise DefinitionError(f"{path}.name", reason("reason.workflow_def.step_name"))
    for key in _REQUIRED[kind]:
        if key not in raw:
            raise DefinitionError(f"{path}.{key}", reason("reason.workflow_def.required", kind=kind))
    timeout = _number(raw.get("timeout", DEFAULT_TIMEOUT), f"{path}.timeout", 0.1, settings.max_timeout)
    retries = raw.get("retries", 0)
    if isinstance(retries, bool) or not isinstance(retries, int) or not 0 <= retries <= MAX_RETRIES:
        raise DefinitionError(f"{path}.retries", reason("reason.field.whole_number", minimum=0, maximum=MAX_RETRIES))
    on_error = raw.get("on_error", "stop")
    if on_error not in ON_ERROR:
        raise DefinitionError(f"{path}.on_error", reason("reason.field.one_of", choices=", ".join(ON_ERROR)))
    params = {k: raw[k] for k in _KIND_KEYS[kind] if k in raw}
    _CHECKS[kind](params, path, settings)
    return Step(name, kind, params, timeout, retries, on_error)


def _check_refs(step: Step, path: str, earlier: list[str]) -> None:
    """A template may read only the steps before its own (later ones have no output yet)."""
    for key, value in step.params.items():
        sources = value.items() if isinstance(value, dict) else [("", value)]
        for sub, source in sources:
            if not isinstance(source, str) or key in ("method", "then"):
                continue
            text = "{{ " + source + " }}" if key == "when" else source
            for ref in sorted(templates.step_refs(text) - set(earlier)):
                where = f"{path}.{key}" + (f".{sub}" if sub else "")
                raise DefinitionError(where, reason("reason.workflow_def.later_step", ref=ref))


def _no_unknown(data: dict, known: set[str], path: str) -> None:
    for key in data:
        if key not in known:
            where = f"{path}.{key}" if path else str(key)
            raise DefinitionError(where, reason("reason.workflow_def.unknown_key", known=", ".join(sorted(known))))


def _number(value: Any, path: str, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not low <= value <= high:
        raise DefinitionError(path, reason("reason.workflow_def.number", low=f"{low:g}", high=f"{high:g}"))
    return float(value)


def _template(value: Any, path: str, max_length: int = templates.MAX_SOURCE) -> None:
    if not isinstance(value, str):
        raise DefinitionError(path, reason("reason.workflow_def.template_text"))
    if len(value) > max_length:
        raise DefinitionError(path, reason("reason.field.max_length", n=max_length))
    try:
        templates.check(value)
    except templates.TemplateRefused as exc:
        raise DefinitionError(path, reason("reason.workflow_def.template", problem=exc.reason)) from None


def _command(params: dict, path: str, settings: WorkflowSettings) -> None:
    if not isinstance(params["command"], str) or not re.match(r"^[a-z0-9_\-]{1,48}$", params["command"]):
        raise DefinitionError(f"{path}.command", reason("reason.workflow_def.command"))
    args = params.get("args", {})
    if not isinstance(args, dict):
        raise DefinitionError(f"{path}.args", reason("reason.workflow_def.args"))
    for key, value in args.items():
        if isinstance(value, (int, float)) and not isinstance(value, bool):
            value = str(value)
        _template(value, f"{path}.args.{key}", 1000)
    params["args"] = {str(k): str(v) if not isinstance(v, str) else v for k, v in args.items()}


def _mcp(params: dict, path: str, settings: WorkflowSettings) -> None:
    """An MCP tool step: text arguments are templates; numbers, booleans and null pass as they are."""
    if not isinstance(params["server"], str) or not MCP_SERVER.match(params["server"]):
        raise DefinitionError(f"{path}.server", reason("reason.workflow_def.mcp_server"))
    if not isinstance(params["tool"], str) or not MCP_TOOL.match(params["tool"]):
        raise DefinitionError(f"{path}.tool", reason("reason.workflow_def.mcp_tool"))
    args = params.get("args", {})
    if not isinstance(args, dict) or not all(isinstance(v, (str, int, float, bool)) or v is None
                                             for v in args.values()):
        raise DefinitionError(f"{path}.args", reason("reason.workflow_def.args"))
    for key, value in args.items():
        if isinstance(value, str):
            _template(value, f"{path}.args.{key}", 1000)
    params["args"] = {str(k): v for k, v in args.items()}


def _model(params: dict, path: str, settings: WorkflowSettings) -> None:
    _template(params["prompt"], f"{path}.prompt")
    if "system" in params:
        _template(params["system"], f"{path}.system")


def _message(params: dict, path: str, settings: WorkflowSettings) -> None:
    _template(params["text"], f"{path}.text")
    if ("channel" in params) != ("chat_id" in params):
        raise DefinitionError(f"{path}.chat_id" if "channel" in params else f"{path}.channel",
                              reason("reason.workflow_def.chat_pair"))
    for key in ("channel", "chat_id"):
        if key in params:
            _template(params[key], f"{path}.{key}", 200)


def _http(params: dict, path: str, settings: WorkflowSettings) -> None:
    _template(params["url"], f"{path}.url", 2000)
    if "{" not in params["url"]:
        check_url(params["url"], settings, f"{path}.url")
    method = params.setdefault("method", "GET")
    if method not in ("GET", "POST"):
        raise DefinitionError(f"{path}.method", reason("reason.workflow_def.method"))
    if "body" in params:
        _template(params["body"], f"{path}.body")
    headers = params.get("headers", {})
    if not isinstance(headers, dict) or not all(isinstance(k, str) and re.match(r"^[A-Za-z0-9\-]{1,64}$", k)
                                                for k in headers):
        raise DefinitionError(f"{path}.headers", reason("reason.workflow_def.headers"))
    for key, value in headers.items():
        _template(value, f"{path}.headers.{key}", 1000)


def check_url(url: str, settings: WorkflowSettings, path: str) -> None:
    """http(s) only, to a host in [workflows] http_allow (empty: no host at all)."""
    problem = url_refusal(url, settings.http_allow)
    if problem:
        host = (urlparse(url).hostname or "").lower() if problem == "host" else ""
        raise DefinitionError(path, reason(f"reason.workflow_def.{problem}", host=repr(host)))


def _condition(params: dict, path: str, settings: WorkflowSettings) -> None:
    when = params["when"]
    if not isinstance(when, str) or not when.strip() or len(when) > 1000:
        raise DefinitionError(f"{path}.when", reason("reason.workflow_def.when"))
    try:
        templates.check_expression(when)
    except templates.TemplateRefused as exc:
        raise DefinitionError(f"{path}.when", reason("reason.workflow_def.expression", problem=exc.reason)) from None
    if params["then"] not in CONDITION_THEN:
        raise DefinitionError(f"{path}.then", reason("reason.field.one_of", choices=", ".join(CONDITION_THEN)))


_CHECKS: dict[str, Callable[[dict, str, WorkflowSettings], None]] = {
    "command": _command, "model": _model, "message": _message, "http": _http, "condition": _condition,
    "mcp": _mcp,
}


def parse_chat_args(tokens: list[str]) -> dict[str, str]:
    """`key=value` tokens from `/workflow <name> key=value ...` into args; anything else is refused."""
    args: dict[str, str] = {}
    for token in tokens:
        key, sep, value = token.partition("=")
        if not sep or not re.match(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$", key):
            raise DefinitionError("args", reason("reason.workflow_def.not_key_value", token=repr(token)))
        args[key] = value
    return args
