"""What SmartBot's /mcp serves as tools, and calling one, for the user a personal API token stands
for (with that user's rights at the moment of the call).

Three kinds, each name carrying its kind so that no two collide:
- `command_<name>`: a catalogue command the user may run, its input schema built from the command's
  typed parameters exactly as the model sees it (pipeline/handlers/tool_calls.py). A call goes
  through `request_command`, as `/run` does: the same permission check, the same argument checks,
  the same approvals (a command that needs one answers that it waits, with the request's id).
- `workflow_<name>`: a workflow the user may run; a call starts a run on the worker pool.
- `smartbot_dashboard` (admin:metrics) and `smartbot_audit_log` (admin:audit): read-only views.

Outside any chat: a role limited to some chats gives nothing here, as in the admin API. Every call
is audited with the user as the actor (`mcp.served_call`, `mcp.served_denied`), beside the events
the command or workflow writes itself. Nothing here reads Flask.
"""
from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Callable

from .. import audit
from ..audit import AuditEvent, actors
from ..auth import rbac
from ..auth.rbac import Principal
from ..executor.approvals import Origin
from ..manage import audit_view, state, workflows
from ..manage.errors import ManageError
from ..pipeline.handlers import HandlerContext
from ..pipeline.handlers.command_requests import PENDING, RAN, request_command
from ..pipeline.handlers.tool_calls import offered, tool_spec
from ..workflows import store

COMMAND, WORKFLOW = "command_", "workflow_"
DASHBOARD, AUDIT_LOG = "smartbot_dashboard", "smartbot_audit_log"
AUDIT_LIMIT = 200
_AUDIT_SCHEMA = {"type": "object", "additionalProperties": False, "properties": {
    "actor": {"type": "string", "description": "exact actor, as stored"},
    "person": {"type": "string", "description": "a user's name: every actor that stands for that user"},
    "action": {"type": "string", "description": "action name, * as a wildcard (e.g. command.*)"},
    "result": {"type": "string", "description": "one result, e.g. ok, denied, error, pending"},
    "since": {"type": "number", "description": "unix seconds"},
    "until": {"type": "number", "description": "unix seconds"},
    "before_seq": {"type": "integer", "minimum": 1, "description": "page: events older than this sequence number"},
    "limit": {"type": "integer", "minimum": 1, "maximum": AUDIT_LIMIT}}}
_WORKFLOW_SCHEMA = {"type": "object", "additionalProperties": {"type": "string"},
                    "description": "the run's args, as key=value in /workflow"}
_NO_ARGS = {"type": "object", "properties": {}, "additionalProperties": False}


@dataclass(frozen=True)
class ServedTool:
    name: str
    description: str
    input_schema: dict[str, Any]

    def listed(self) -> dict[str, Any]:
        return {"name": self.name, "description": self.description, "inputSchema": self.input_schema}


@dataclass
class ToolOutcome:
    """A tools/call result: text for the client, whether it is an error, and the details as data."""

    text: str
    is_error: bool = False
    data: dict[str, Any] = field(default_factory=dict)

    def result(self) -> dict[str, Any]:
        return {"content": [{"type": "text", "text": self.text}], "structuredContent": self.data,
                "isError": self.is_error}


@dataclass(frozen=True)
class View:
    permission: str
    description: str
    schema: dict[str, Any]
    read: Callable[[Any, dict[str, Any]], dict[str, Any]]


def _dashboard(runtime: Any, _args: dict[str, Any]) -> dict[str, Any]:
    return state.summary(runtime.db)


def _audit_log(runtime: Any, args: dict[str, Any]) -> dict[str, Any]:
    for key in ("since", "until"):
        value = args.get(key)
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))
                                  or not math.isfinite(value)):
            raise ManageError(f"{key} must be a finite number of unix seconds", key)
    for key in ("actor", "person", "action", "result"):
        if args.get(key) is not None and not isinstance(args[key], str):
            raise ManageError(f"{key} must be text", key)
    limit, before = args.get("limit", 50), args.get("before_seq")
    for key, value in (("limit", limit), ("before_seq", before)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, int) or value < 1):
            raise ManageError(f"{key} must be a whole number from 1", key)
    filters = audit_view.Filters(**{k: args.get(k) or None for k in ("actor", "person", "action", "result")},
                                 since=args.get("since"), until=args.get("until"))
    events = audit_view.search(runtime.db, filters, before_seq=before, limit=min(limit, AUDIT_LIMIT))
    return {"events": events, "next_before_seq": events[-1]["seq"] if events else None}


VIEWS: dict[str, View] = {
    DASHBOARD: View("admin:metrics", "SmartBot's live figures and queues: messages and replies a minute, "
                                     "errors and refused logins in the last hour, inbox and outbox depth",
                    _NO_ARGS, _dashboard),
    AUDIT_LOG: View("admin:audit", "Search SmartBot's audit log, newest first (filters as in the admin page)",
                    _AUDIT_SCHEMA, _audit_log),
}


def context(runtime: Any) -> HandlerContext:
    """What a command call works with: the runtime's services, in the server's language."""
    settings = runtime.settings
    return HandlerContext(settings, runtime.db, runtime.models, runtime.providers, settings.default_locale,
                          runtime.commands, runtime.store)


def origin_of(principal: Principal) -> Origin:
    """A caller outside any chat: named as a user (admin:<name>), told nothing in a chat."""
    return Origin(actors.of_user(principal.name), principal.name, "", "", {}, "")


def listing(runtime: Any, principal: Principal) -> list[ServedTool]:
    """The tools this user may use now, and no others."""
    ctx = context(runtime)
    chat_key = origin_of(principal).chat_key
    tools = []
    for spec in offered(ctx, principal, chat_key):
        model_tool = tool_spec(spec, ctx)
        tools.append(ServedTool(COMMAND + spec.name, model_tool.description, model_tool.parameters))
    with runtime.db.read() as conn:
        rows = [r for r in store.all_workflows(conn) if r.enabled]
    for row in rows:
        if rbac.check(principal, f"workflow:run:{row.name}", chat_key).allowed:
            tools.append(ServedTool(WORKFLOW + row.name, (row.description or row.name) + " (starts a workflow run)",
                                    _WORKFLOW_SCHEMA))
    for name, view in VIEWS.items():
        if rbac.check(principal, view.permission, chat_key).allowed:
            tools.append(ServedTool(name, view.description, view.schema))
    return tools


def call(runtime: Any, principal: Principal, name: str, arguments: dict[str, Any], request_key: str) -> ToolOutcome:
    """Call one tool as `principal`; every call and refusal is audited."""
    actor = actors.of_user(principal.name)
    if name.startswith(COMMAND):
        outcome, events = _command(runtime, principal, name[len(COMMAND):], arguments, request_key)
    elif name.startswith(WORKFLOW):
        outcome, events = _workflow(runtime, principal, name[len(WORKFLOW):], arguments), []
    elif name in VIEWS:
        outcome, events = _view(runtime, principal, VIEWS[name], arguments), []
    else:
        outcome, events = ToolOutcome(f"no tool named {name[:64]!r} is served here", True,
                                      {"status": "refused"}), []
    status = outcome.data.get("status", "error")
    event = "mcp.served_denied" if status == "refused" else "mcp.served_call"
    details = {"tool": name[:128], "status": status}
    if status == "refused":
        details["reason"] = outcome.text
    with runtime.db.write() as conn:
        audit.record_all(conn, [*events, AuditEvent(event, actor, f"mcp:{name[:128]}",
                                                    "denied" if status == "refused" else
                                                    "pending" if status == PENDING else
                                                    "error" if outcome.is_error else "ok", details)])
    return outcome


def _command(runtime: Any, principal: Principal, command: str, arguments: dict[str, Any],
             request_key: str) -> tuple[ToolOutcome, list[AuditEvent]]:
    ctx = context(runtime)
    asked = request_command(ctx, principal, origin_of(principal), command[:64], named=arguments, via="mcp",
                            request_key=request_key, max_timeout=runtime.settings.mcp.call_timeout)
    if asked.status == PENDING:
        return ToolOutcome(asked.text, False, {"status": PENDING, "approval_id": asked.approval_id}), asked.audit
    if asked.status != RAN or asked.result is None:
        return ToolOutcome(asked.text, True, {"status": "refused", "reason": asked.reason}), asked.audit
    result = asked.result
    data = {"status": "ran", "exit_code": result.exit_code, "stopped": result.stopped, "truncated": result.truncated,
            "error": result.error}
    return ToolOutcome(asked.text, not result.ok, data), asked.audit


def _workflow(runtime: Any, principal: Principal, name: str, arguments: dict[str, Any]) -> ToolOutcome:
    try:
        run = workflows.start(runtime, principal, name[:64], arguments)
    except ManageError as exc:       # a refusal (403) is audited by the start itself (workflow.denied)
        status = "refused" if exc.status in (403, 404) else "error"
        return ToolOutcome(str(exc.reason), True, {"status": status, "reason": str(exc.reason)})
    return ToolOutcome(f"workflow {name} started: run #{run['id']} (it runs on the worker pool)", False,
                       {"status": "started", "run_id": run["id"]})


def _view(runtime: Any, principal: Principal, view: View, arguments: dict[str, Any]) -> ToolOutcome:
    decision = rbac.check(principal, view.permission, origin_of(principal).chat_key)
    if not decision.allowed:
        return ToolOutcome(decision.reason, True, {"status": "refused", "reason": decision.reason})
    try:
        data = view.read(runtime, arguments)
    except ManageError as exc:
        field_name = f" ({exc.field})" if exc.field else ""
        return ToolOutcome(f"{exc.reason}{field_name}", True, {"status": "error", "reason": str(exc.reason)})
    return ToolOutcome(json.dumps(data, ensure_ascii=False, default=str), False, {"status": "ok", **data})
