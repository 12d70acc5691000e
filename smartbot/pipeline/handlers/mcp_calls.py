"""Asking for one MCP tool call, the same way from a model's tool call, a workflow step and an
approved request: allow-list, then permission, then the arguments against the tool's input schema,
then an approval request or the call itself.

Whatever asks, the check is the asking user's `mcp:<server>:<tool>` in that chat at that moment;
nothing reaches the server before every check passed (a refused user does not even make SmartBot
connect). Every refusal, call and failure is audited with the result's size, secrets masked.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from ...audit import AuditEvent, redact
from ...auth import rbac
from ...auth.rbac import Principal
from ...executor.approvals import Origin
from ...i18n import t
from ...llm.base import ToolCall, ToolSpec
from ...mcp import schema_check, tools
from ...mcp.client_settings import TOOL_NAME
from ...mcp.jsonrpc import McpError, McpTimeout
from ...mcp.registry import ServerHandle, ToolOutcome
from .approval_asks import ask
from .base import HandlerContext
from .command_requests import PENDING, RAN, REFUSED, Requested

log = logging.getLogger(__name__)
FAILED = "failed"


@dataclass
class McpRequested(Requested):
    """What asking for one MCP tool call came to (`text` is the chat's line about it)."""

    server: str = ""
    tool: str = ""
    outcome: ToolOutcome | None = None
    timed_out: bool = False


def request_mcp(ctx: HandlerContext, principal: Principal, origin: Origin, server: str, tool: str,
                arguments: Any, via: str, request_key: str = "", max_timeout: float | None = None,
                approved: bool = False, coerce: bool = False) -> McpRequested:
    """`approved`: an approver said yes, so a needs_approval tool is called (after every check again).
    `coerce`: text arguments (a workflow's rendered templates) become the number or boolean the
    tool's schema asks for, when they read as one."""
    label = f"{server}/{tool}"[:80]
    base = {"server": server[:40], "tool": tool[:128], "via": via, "chat": origin.chat_key}
    handle = ctx.mcp.get(server) if ctx.mcp is not None else None

    def refused(event: str, reason: str, **details: Any) -> McpRequested:
        return McpRequested(REFUSED, label, t("tools.refused", ctx.locale, name=label, reason=reason),
                            reason=reason, server=server, tool=tool, audit=[AuditEvent(
                                event, origin.requester, label, "denied", {**base, **details, "reason": reason})])

    if handle is None:
        return refused("mcp.rejected", t("mcp.unknown_server", ctx.locale, server=server[:40]))
    if not TOOL_NAME.match(tool):
        return refused("mcp.rejected", "not a tool name")
    if not handle.config.offers(tool):
        return refused("mcp.denied", f"{tool} is not among the tools SmartBot offers from {server}")
    permission = tools.permission(server, tool)
    decision = rbac.check(principal, permission, origin.chat_key)
    if not decision.allowed:
        return refused("mcp.denied", decision.reason, permission=permission)
    if not isinstance(arguments, dict):
        return refused("mcp.rejected", "the arguments are not a JSON object")
    try:
        listed = {t.name: t for t in handle.tools()}
    except McpError as exc:
        return _failed(ctx, origin, label, base, handle, exc)
    spec = listed.get(tool)
    if spec is None:
        return refused("mcp.rejected", f"{server} does not list a tool {tool}")
    if coerce:
        arguments = schema_check.coerce(arguments, spec.input_schema)
    problems = schema_check.problems(arguments, spec.input_schema)
    if problems:
        return refused("mcp.rejected", "; ".join(problems))
    if spec.needs_approval and not approved:
        asked = AuditEvent("mcp.approval_requested", origin.requester, label, "pending",
                           {**base, "args": redact(arguments)})
        approval_id = ask(ctx, permission, arguments, origin, via, request_key, asked)
        minutes = round(ctx.settings.approvals.expire_minutes)
        return McpRequested(PENDING, label, t("command.pending", ctx.locale, name=label, id=approval_id,
                                               minutes=minutes), approval_id=approval_id, server=server, tool=tool)
    return call(ctx, origin.requester, handle, tool, arguments, {**base}, max_timeout, label)


def call(ctx: HandlerContext, actor: str, handle: ServerHandle, tool: str, arguments: dict[str, Any],
         base: dict[str, Any], max_timeout: float | None, label: str, origin: Origin | None = None) -> McpRequested:
    """Send a call whose checks all passed; the outcome and its audit event."""
    timeout = handle.config.timeout if max_timeout is None else min(handle.config.timeout, max_timeout)
    try:
        outcome = handle.call(tool, arguments, timeout)
    except McpError as exc:
        return _failed(ctx, origin, label, base, handle, exc, actor=actor, timeout=timeout)
    key = "mcp.tool_error" if outcome.is_error else "mcp.called"
    event = AuditEvent("mcp.called", actor, label, "error" if outcome.is_error else "ok", {
        **base, "args": redact(arguments), "result_bytes": outcome.result_bytes, "truncated": outcome.truncated,
        "is_error": outcome.is_error, "duration": round(outcome.duration, 3), "files": len(outcome.files)})
    return McpRequested(RAN, label, t(key, ctx.locale, name=label, size=outcome.result_bytes), outcome=outcome,
                        server=handle.config.name, tool=tool, audit=[event])


def _failed(ctx: HandlerContext, origin: Origin | None, label: str, base: dict[str, Any], handle: ServerHandle,
            exc: McpError, actor: str = "", timeout: float | None = None) -> McpRequested:
    timed_out = isinstance(exc, McpTimeout)
    reason = exc.reason
    text = t("mcp.timeout", ctx.locale, name=label, seconds=f"{timeout or handle.config.timeout:g}") if timed_out \
        else t("mcp.failed", ctx.locale, name=label, reason=reason)
    event = AuditEvent("mcp.failed", actor or (origin.requester if origin else ""), label, "error",
                       {**base, "kind": exc.kind, "reason": redact(reason)})
    return McpRequested(FAILED, label, text, reason=reason, server=handle.config.name, tool=base.get("tool", ""),
                        timed_out=timed_out, audit=[event])


def tool_content(asked: McpRequested) -> dict[str, Any]:
    """What the model is told about the call (the result as data, never instructions)."""
    data: dict[str, Any] = {"tool": asked.name, "status": asked.status}
    if asked.status == RAN and asked.outcome is not None:
        data.update(is_error=asked.outcome.is_error, truncated=asked.outcome.truncated, output=asked.outcome.text)
    elif asked.status == PENDING:
        data.update(approval_id=asked.approval_id, note="waiting for an admin's approval; tell the user")
    elif asked.timed_out:
        data.update(reason="the tool did not answer in time; tell the user it timed out")
    else:
        data.update(reason=asked.reason)
    return data


def mcp_tool_specs(ctx: HandlerContext, principal: Principal, chat_key: str) -> list[ToolSpec]:
    """The MCP tools this user may call in this chat, as model tools. A server none of whose tools
    the user may call is not even contacted; one that cannot be reached offers nothing this time."""
    specs: list[ToolSpec] = []
    for name, handle in (ctx.mcp.servers.items() if ctx.mcp is not None else ()):
        if not _may_hold_any(principal, name, chat_key):
            continue
        try:
            listed = handle.tools()
        except McpError as exc:
            log.warning("MCP server %s offers no tools now: %s", name, exc.reason)
            continue
        for tool in listed:
            if rbac.check(principal, tool.permission, chat_key).allowed:
                note = " (needs an admin's approval)" if tool.needs_approval else ""
                specs.append(ToolSpec(tool.model_name, (tool.description or tool.name)[:1000] + note,
                                      tools.input_schema_for_model(tool)))
    return specs


def _may_hold_any(principal: Principal, server: str, chat_key: str) -> bool:
    """Whether some grant could allow a tool of `server` (before asking the server for its tools)."""
    for grant in principal.grants:
        last = grant.pattern.split(":")[-1]
        probe = tools.permission(server, "x" if last == "*" else last)
        if grant.applies_to(chat_key) and rbac.pattern_matches(grant.pattern, probe):
            return True
    return False


def request_mcp_call(ctx: HandlerContext, principal: Principal, origin: Origin, call: ToolCall,
                     key: str) -> McpRequested:
    """A model's tool call naming an MCP tool: which server and tool it means, then request_mcp."""
    assert ctx.mcp is not None
    handle, tool = ctx.mcp.resolve(call.name)  # type: ignore[misc]
    arguments: Any = call.arguments
    if not call.arguments and call.raw_arguments.strip() not in ("", "{}"):
        arguments = None
    return request_mcp(ctx, principal, origin, handle.config.name, tool, arguments, "tool", key)
