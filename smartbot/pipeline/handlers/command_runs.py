"""Running a checked catalogue command and reporting its outcome: the run itself (secrets masked in
the output), the audit event it leaves, and the chat text that says how it went.

Shared by a command run at once (command_requests.py) and one run after its approval
(approval_flow.py). It never checks a permission or an argument: both callers did that first.
"""
from __future__ import annotations

from typing import Any, Mapping

from ...audit import AuditEvent
from ...executor.catalogue import CommandSpec
from ...executor.environment import OwnVariables
from ...executor.runner import BUSY, OUTPUT_LIMIT, TIMEOUT, CommandResult
from ...i18n import t
from .base import HandlerContext


def run_spec(ctx: HandlerContext, spec: CommandSpec, argv: list[str], checked: Mapping[str, str],
             own: OwnVariables, max_timeout: float | None = None) -> CommandResult:
    """Run with the command's own timeout, or `max_timeout` when that is shorter (a workflow step's).
    The output comes back with SmartBot's secrets and the secret parameters' values masked, so every
    place that stores or sends it (chat reply, outbox, workflow run, the model) gets it masked."""
    if ctx.commands is None:
        return CommandResult(argv, None, error="this process does not run commands")
    timeout = spec.timeout if max_timeout is None else min(spec.timeout, max_timeout)
    return ctx.commands.run(argv, timeout, spec.output_cap, spec.workdir, spec.env, own=own,
                            secrets=spec.secret_values(checked))


def ran_event(actor: str, spec: CommandSpec, shown_argv: list[str], result: CommandResult,
              details: dict[str, Any]) -> AuditEvent:
    outcome = "ok" if result.ok else "error"
    return AuditEvent("command.ran", actor, spec.name, outcome, {
        **details, "argv": shown_argv, "exit_code": result.exit_code, "duration": round(result.duration, 3),
        "output_bytes": result.output_bytes, "truncated": result.truncated, "stopped": result.stopped,
        "error": result.error})


def format_result(locale: str, name: str, result: CommandResult) -> str:
    """The chat reply for a finished run: a status line, the output, and why it stopped early."""
    if result.error:
        key = "command.busy" if result.stopped == BUSY else "command.not_started"
        return t(key, locale, name=name, error=result.error)
    lines = [t("command.status", locale, name=name, code=result.exit_code, seconds=f"{result.duration:.2f}")]
    output = result.stdout.rstrip()
    if result.stderr.strip():
        output = (output + "\n" if output else "") + "stderr:\n" + result.stderr.rstrip()
    lines.append(output or t("command.no_output", locale))
    if result.stopped == TIMEOUT:
        lines.append(t("command.timed_out", locale, seconds=f"{result.duration:.1f}"))
    elif result.stopped == OUTPUT_LIMIT:
        lines.append(t("command.truncated", locale, shown=len(result.stdout.encode()) + len(result.stderr.encode())))
    return "\n".join(lines)
