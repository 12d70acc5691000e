"""Workflows (definitions, YAML export and import, starting runs), their runs, and their cron
schedules, for the admin API and the admin page alike.

A definition is checked by the same code that checks it again before every run
(workflows.definition), so no admin can store a workflow the engine would refuse; errors name the
field (`steps[2].kind`). Starting a run only stores it: it runs on the worker pool.

`admin:workflows` never widens its holder (workflows/rights.py): a workflow may hold only commands
its author may run, and a schedule runs as its creator or as an owner the creator covers, who must
be allowed to run the workflow; refusals are audited as `delegation.denied`.
"""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..auth.rbac import Principal
from ..i18n.reasons import reason
from ..storage.tables import Schedule, User
from ..workflows import cron, rights, schedules, store
from ..workflows.definition import NAME, DefinitionError, load
from ..workflows.runs import WORKFLOW, StartRefused, Trigger, start_now
from . import changes
from .errors import Conflict, Invalid, NotFound, with_status
from .fields import Bool, Obj, Str

_schedules, _users = Schedule.__table__, User.__table__

WORKFLOW_FIELDS = {
    "yaml": Str(required=True, max_length=100_000, description="the workflow in YAML (see docs/workflows.md)"),
    "enabled": Bool(),
}
RUN_FIELDS = {
    "args": Obj(description="key: value pairs the templates see as args"),
    "channel": Str(max_length=40, description="a chat to post the outcome and messages to (with chat_id)"),
    "chat_id": Str(max_length=200),
}
SCHEDULE_FIELDS = {
    "workflow": Str(required=True, max_length=64, pattern=NAME.pattern.strip("^$")),
    "cron": Str(required=True, max_length=120, description="minute hour day-of-month month day-of-week, in UTC"),
    "owner": Str(max_length=200, description="the user whose rights the runs have; default: you"),
    "args": Obj(),
    "channel": Str(max_length=40, description="where run outcomes are posted (with chat_id)"),
    "chat_id": Str(max_length=200),
    "enabled": Bool(),
}


def _definition(runtime: Any, source: str, name: str | None = None) -> Any:
    try:
        return load(source, runtime.settings.workflows, name)
    except DefinitionError as exc:
        raise Invalid(exc.reason, exc.field) from None


def _stored(conn: Connection, name: str) -> Row[Any]:
    row = store.get_workflow(conn, name)
    if row is None:
        raise NotFound(reason("reason.workflow.missing", name=repr(name)))
    return row


def listing(db: Any) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [store.workflow_dict(r) for r in store.all_workflows(conn)]


def get(db: Any, name: str) -> dict[str, Any]:
    with db.read() as conn:
        return store.workflow_dict(_stored(conn, name))


def source(db: Any, name: str) -> str:
    """The workflow's YAML as it was stored."""
    with db.read() as conn:
        return str(_stored(conn, name).source)


def create(runtime: Any, caller: Principal, text: str, enabled: bool = True) -> dict[str, Any]:
    definition = _definition(runtime, text)
    with changes.delegated(runtime.db, caller) as (conn, me):
        if store.get_workflow(conn, definition.name) is not None:
            raise Conflict(reason("reason.workflow.exists", name=repr(definition.name)), "name")
        rights.require_steps_held(conn, me, definition)
        store.save_workflow(conn, definition.name, definition.description, text, enabled)
        after = store.workflow_dict(store.get_workflow(conn, definition.name))
        changes.record(conn, changes.actor_of(caller), "workflow.created", f"workflow:{definition.name}", None,
                       after)
    return after


def update(runtime: Any, caller: Principal, name: str, body: dict[str, Any]) -> dict[str, Any]:
    with changes.delegated(runtime.db, caller) as (conn, me):
        row = _stored(conn, name)
        before = store.workflow_dict(row)
        text = body.get("yaml", row.source)
        definition = _definition(runtime, text, name)
        rights.require_steps_held(conn, me, definition)
        store.save_workflow(conn, name, definition.description, text, body.get("enabled", bool(row.enabled)))
        after = store.workflow_dict(store.get_workflow(conn, name))
        changes.record(conn, changes.actor_of(caller), "workflow.updated", f"workflow:{name}", before, after)
    return after


def remove(runtime: Any, caller: Principal, name: str) -> None:
    """Remove a workflow and its schedules."""
    with runtime.db.write() as conn:
        before = store.workflow_dict(_stored(conn, name))
        store.delete_workflow(conn, name)
        conn.execute(sa.delete(_schedules).where(_schedules.c.workflow == name))
        changes.record(conn, changes.actor_of(caller), "workflow.deleted", f"workflow:{name}", before, None)


def import_yaml(runtime: Any, caller: Principal, text: str) -> dict[str, Any]:
    """Create the workflow the YAML defines, or replace the one of that name (keeping its enabled flag)."""
    definition = _definition(runtime, text)
    with changes.delegated(runtime.db, caller) as (conn, me):
        rights.require_steps_held(conn, me, definition)
        row = store.get_workflow(conn, definition.name)
        before = store.workflow_dict(row) if row is not None else None
        store.save_workflow(conn, definition.name, definition.description, text,
                            bool(row.enabled) if row is not None else True)
        after = store.workflow_dict(store.get_workflow(conn, definition.name))
        changes.record(conn, changes.actor_of(caller), "workflow.imported", f"workflow:{definition.name}", before,
                       after)
    return after


def start(runtime: Any, caller: Principal, name: str, args: dict[str, Any], channel: str = "",
          chat_id: str = "") -> dict[str, Any]:
    """Store a run started by an admin (it runs on the worker pool) and return it."""
    _check_args(args)
    if bool(channel) != bool(chat_id):
        raise Invalid(reason("reason.workflow.chat_pair"), "chat_id" if channel else "channel")
    if channel and channel not in runtime.channels:
        raise Invalid(reason("reason.workflow.channel", name=repr(channel)), "channel")
    actor = changes.actor_of(caller)
    trigger = Trigger("api", actor, f"api:{actor}:{time.time_ns()}", channel, chat_id)
    try:
        run_id, _ = start_now(runtime.db, runtime.settings.workflows, name, caller, trigger,
                              {str(k): str(v) for k, v in args.items()})
    except StartRefused as exc:
        raise with_status(exc.status, exc.reason) from None
    runtime.dispatch.soon(WORKFLOW, run_id)     # never run inside the request
    with runtime.db.read() as conn:
        return store.run_dict(store.get_run(conn, run_id), store.steps_of(conn, run_id))


def runs(db: Any, workflow: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    """Recent runs, newest first, with their steps; only one workflow's or one status's when given."""
    if status is not None and status not in store.RUN_STATUSES:
        raise Invalid(reason("reason.field.one_of", choices=', '.join(store.RUN_STATUSES)), "status")
    with db.read() as conn:
        return [store.run_dict(r, store.steps_of(conn, r.id)) for r in store.list_runs(conn, workflow, status)]


def run(db: Any, run_id: int) -> dict[str, Any]:
    with db.read() as conn:
        row = store.get_run(conn, run_id)
        if row is None:
            raise NotFound(reason("reason.workflow.no_run", id=run_id))
        return store.run_dict(row, store.steps_of(conn, run_id))


# -- schedules ------------------------------------------------------------------------------------
def _owner_id(conn: Connection, caller: Principal, name: str | None) -> int:
    if not name:
        if caller.user_id is None:
            raise Invalid(reason("reason.workflow.owner_needed"), "owner")
        return caller.user_id
    uid = conn.execute(sa.select(_users.c.id).where(_users.c.name == name)).scalar()
    if uid is None:
        raise Invalid(reason("reason.user.no_name", name=repr(name)), "owner")
    return int(uid)


def _schedule(conn: Connection, schedule_id: int) -> Row[Any]:
    row = schedules.get(conn, schedule_id)
    if row is None:
        raise NotFound(reason("reason.workflow.no_schedule", id=schedule_id))
    return row


def _checked_schedule(conn: Connection, body: dict[str, Any]) -> float:
    """Check the cross-field rules; the next firing time of the cron expression."""
    try:
        following = schedules.next_time(body["cron"], time.time())
    except cron.CronError as exc:
        raise Invalid(exc.reason, "cron") from None
    if store.get_workflow(conn, body["workflow"]) is None:
        raise Invalid(reason("reason.workflow.missing", name=repr(body['workflow'])), "workflow")
    if bool(body.get("channel")) != bool(body.get("chat_id")):
        raise Invalid(reason("reason.workflow.chat_pair"), "chat_id" if body.get("channel") else "channel")
    _check_args(body.get("args") or {})
    return following


def _check_args(args: dict[str, Any]) -> None:
    for key, value in args.items():
        if not isinstance(value, (str, int, float, bool)):
            raise Invalid(reason("reason.field.text_or_number"), f"args.{key}")


def _chat_key(body: dict[str, Any]) -> str:
    return f"{body['channel']}:{body.get('chat_id', '')}" if body.get("channel") else ""


def schedule_listing(db: Any) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [schedules.as_dict(r) for r in schedules.all_schedules(conn)]


def get_schedule(db: Any, schedule_id: int) -> dict[str, Any]:
    with db.read() as conn:
        return schedules.as_dict(_schedule(conn, schedule_id))


def create_schedule(runtime: Any, caller: Principal, body: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    with changes.delegated(runtime.db, caller) as (conn, me):
        following = _checked_schedule(conn, body)
        owner = _owner_id(conn, caller, body.get("owner"))
        rights.require_run_as(conn, me, owner, body["workflow"], _chat_key(body), "schedule:new",
                              body.get("enabled", True))
        new_id = conn.execute(sa.insert(_schedules).values(
            workflow=body["workflow"], cron=body["cron"], owner_user_id=owner,
            args={str(k): str(v) for k, v in (body.get("args") or {}).items()}, channel=body.get("channel", ""),
            chat_id=body.get("chat_id", ""), enabled=body.get("enabled", True), next_run_at=following,
            created_at=now, updated_at=now).returning(_schedules.c.id)).scalar()
        after = schedules.as_dict(schedules.get(conn, new_id))
        changes.record(conn, changes.actor_of(caller), "schedule.created", f"schedule:{new_id}", None, after)
    return after


def update_schedule(runtime: Any, caller: Principal, schedule_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Whoever changes a schedule must hold every right of the user it runs as (what it runs, with
    whose rights, and where the output goes are all theirs to decide), and of the new owner."""
    target = f"schedule:{schedule_id}"
    with changes.delegated(runtime.db, caller) as (conn, me):
        row = _schedule(conn, schedule_id)
        rights.require_change(conn, me, row.owner_user_id, target)
        before = schedules.as_dict(row)
        merged = {**before, **body}
        following = _checked_schedule(conn, merged)
        values = {k: merged[k] for k in ("workflow", "cron", "channel", "chat_id", "enabled")}
        values["args"] = {str(k): str(v) for k, v in (merged.get("args") or {}).items()}
        values["owner_user_id"] = _owner_id(conn, caller, body["owner"]) if "owner" in body else row.owner_user_id
        rights.require_run_as(conn, me, values["owner_user_id"], values["workflow"], _chat_key(values), target,
                              bool(values["enabled"]))
        if "cron" in body or ("enabled" in body and body["enabled"] and not row.enabled):
            values["next_run_at"] = following
        conn.execute(sa.update(_schedules).where(_schedules.c.id == schedule_id)
                     .values(updated_at=time.time(), **values))
        after = schedules.as_dict(schedules.get(conn, schedule_id))
        changes.record(conn, changes.actor_of(caller), "schedule.updated", target, before, after)
    return after


def remove_schedule(runtime: Any, caller: Principal, schedule_id: int) -> None:
    with runtime.db.write() as conn:
        before = schedules.as_dict(_schedule(conn, schedule_id))
        conn.execute(sa.delete(_schedules).where(_schedules.c.id == schedule_id))
        changes.record(conn, changes.actor_of(caller), "schedule.deleted", f"schedule:{schedule_id}", before, None)
