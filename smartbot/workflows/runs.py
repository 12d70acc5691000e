"""Starting a run, the same way from chat, the admin API and a schedule: the workflow must exist
and be enabled, its stored definition must still pass the checks, and whoever starts it (the
schedule's owner for a schedule) needs `workflow:run:<name>`. A refusal is audited; a start is
audited once per request key, inside the transaction that stores the run."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy.engine import Connection

from .. import audit
from ..audit import actors
from ..auth import rbac
from ..auth.rbac import Principal
from ..i18n.reasons import reason
from .definition import Definition, DefinitionError, load
from .settings import WorkflowSettings
from .store import create_run, get_workflow

WORKFLOW = "workflow"       # the job kind that works one run on the worker pool


class StartRefused(Exception):
    """Why a run was not started: `status` is what the API answers (404, 403, 409, 422)."""

    def __init__(self, status: int, reason: str) -> None:
        self.status = status
        self.reason = reason
        super().__init__(reason)


@dataclass(frozen=True)
class Trigger:
    kind: str                       # chat | api | schedule
    actor: str                      # channel:user, admin:<name>, schedule:<id>
    request_key: str                # the same key twice starts one run
    channel: str = ""
    chat_id: str = ""
    reply_context: dict[str, Any] | None = None
    reply_to: str = ""
    locale: str = ""                # the starter's language, for the run's later messages

    @property
    def chat_key(self) -> str:
        return f"{self.channel}:{self.chat_id}" if self.channel else ""


def definition_of(conn: Connection, name: str, settings: WorkflowSettings) -> Definition:
    row = get_workflow(conn, name)
    if row is None:
        raise StartRefused(404, reason("reason.workflow.missing", name=repr(name)))
    if not row.enabled:
        raise StartRefused(409, reason("reason.workflow.disabled", name=repr(name)))
    try:
        return load(row.source, settings, name)
    except DefinitionError as exc:
        raise StartRefused(422, reason("reason.workflow.stored_invalid", field=exc.field, reason=exc.reason)) from None


def start(conn: Connection, settings: WorkflowSettings, name: str, principal: Principal, trigger: Trigger,
          args: dict[str, str]) -> tuple[int, bool]:
    """Store a queued run (inside the caller's write transaction); (run id, newly created). A caller
    that catches StartRefused inside the transaction keeps the refusal's audit row."""
    definition = definition_of(conn, name, settings)
    # A schedule's actor is the schedule; the audit also names the user whose rights the run has.
    run_as = {"as": actors.of_caller(principal.identity, principal.name)} if trigger.kind == "schedule" else {}
    decision = rbac.check(principal, f"workflow:run:{name}", trigger.chat_key)
    if not decision.allowed:
        audit.record(conn, "workflow.denied", trigger.actor, f"workflow:{name}", "denied",
                     {"reason": decision.reason, "trigger": trigger.kind, "permission": f"workflow:run:{name}",
                      **run_as})
        raise StartRefused(403, decision.reason)
    run_id, created = create_run(
        conn, workflow=name, source=definition.source, step_names=[(s.name, s.kind) for s in definition.steps],
        request_key=trigger.request_key, trigger=trigger.kind, triggered_by=trigger.actor,
        user_id=principal.user_id, channel=trigger.channel, chat_id=trigger.chat_id,
        reply_context=trigger.reply_context, reply_to=trigger.reply_to, args=args,
        locale=trigger.locale)
    if created:
        audit.record(conn, "workflow_run.started", trigger.actor, f"workflow_run:{run_id}", "ok",
                     {"workflow": name, "trigger": trigger.kind, "args": args, **run_as})
    return run_id, created


def start_now(db: Any, settings: WorkflowSettings, name: str, principal: Principal, trigger: Trigger,
              args: dict[str, str]) -> tuple[int, bool]:
    """`start` in a transaction of its own. A refusal's audit row is committed before it is raised."""
    refused: StartRefused | None = None
    with db.write() as conn:
        try:
            return start(conn, settings, name, principal, trigger, args)
        except StartRefused as exc:
            refused = exc
    raise refused
