"""/api/v1/workflows (definitions, YAML export and import, starting runs), /api/v1/workflow-runs
(runs with their step states) and /api/v1/schedules (cron schedules).

A definition is checked by the same code that checks it again before every run
(workflows.definition), so the API cannot store a workflow the engine would refuse; errors name the
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
from flask import Blueprint, Response, request

from ..manage import changes
from ..models import Schedule, User
from ..workflows import cron, rights, schedules, store
from ..workflows.definition import NAME, DefinitionError, load
from ..workflows.runs import WORKFLOW, StartRefused, Trigger, start_now
from .context import ApiContext, ApiError
from .registry import route
from .schema import Bool, Obj, Str

bp = Blueprint("api_workflows", __name__)
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


def _definition(ctx: ApiContext, source: str, name: str | None = None) -> Any:
    try:
        return load(source, ctx.runtime.settings.workflows, name)
    except DefinitionError as exc:
        raise ApiError(422, exc.reason, exc.field) from None


def _stored(conn: Connection, name: str) -> Row[Any]:
    row = store.get_workflow(conn, name)
    if row is None:
        raise ApiError(404, f"there is no workflow {name!r}")
    return row


def listing(ctx: ApiContext) -> list[dict[str, Any]]:
    with ctx.runtime.db.read() as conn:
        return [store.workflow_dict(r) for r in store.all_workflows(conn)]


@route(bp, "/workflows", "GET", summary="Every workflow", permission="admin:workflows", tag="workflows")
def list_workflows(ctx: ApiContext):
    return {"workflows": listing(ctx)}


@route(bp, "/workflows/<name>", "GET", summary="One workflow with its YAML", permission="admin:workflows",
       tag="workflows")
def get_workflow(ctx: ApiContext, name: str):
    with ctx.runtime.db.read() as conn:
        return store.workflow_dict(_stored(conn, name))


@route(bp, "/workflows", "POST", summary="Add a workflow from YAML", permission="admin:workflows",
       tag="workflows", body=WORKFLOW_FIELDS)
def create_workflow(ctx: ApiContext):
    return create(ctx, ctx.body["yaml"], ctx.body.get("enabled", True)), 201


def create(ctx: ApiContext, source: str, enabled: bool = True) -> dict[str, Any]:
    definition = _definition(ctx, source)
    with changes.delegated(ctx.runtime.db, ctx.principal) as (conn, me):
        if store.get_workflow(conn, definition.name) is not None:
            raise ApiError(409, f"a workflow named {definition.name!r} exists", "name")
        rights.require_steps_held(conn, me, definition)
        store.save_workflow(conn, definition.name, definition.description, source, enabled)
        after = store.workflow_dict(store.get_workflow(conn, definition.name))
        ctx.record_change(conn, "workflow.created", f"workflow:{definition.name}", None, after)
    return after


@route(bp, "/workflows/<name>", "PATCH", summary="Change a workflow's YAML or enabled flag",
       permission="admin:workflows", tag="workflows", body=WORKFLOW_FIELDS, partial=True)
def update_workflow(ctx: ApiContext, name: str):
    return update(ctx, name, ctx.body)


def update(ctx: ApiContext, name: str, body: dict[str, Any]) -> dict[str, Any]:
    with changes.delegated(ctx.runtime.db, ctx.principal) as (conn, me):
        row = _stored(conn, name)
        before = store.workflow_dict(row)
        source = body.get("yaml", row.source)
        definition = _definition(ctx, source, name)
        rights.require_steps_held(conn, me, definition)
        store.save_workflow(conn, name, definition.description, source, body.get("enabled", bool(row.enabled)))
        after = store.workflow_dict(store.get_workflow(conn, name))
        ctx.record_change(conn, "workflow.updated", f"workflow:{name}", before, after)
    return after


@route(bp, "/workflows/<name>", "DELETE", summary="Remove a workflow (and its schedules)",
       permission="admin:workflows", tag="workflows")
def delete_workflow(ctx: ApiContext, name: str):
    remove(ctx, name)
    return {"deleted": name}


def remove(ctx: ApiContext, name: str) -> None:
    with ctx.runtime.db.write() as conn:
        before = store.workflow_dict(_stored(conn, name))
        store.delete_workflow(conn, name)
        conn.execute(sa.delete(_schedules).where(_schedules.c.workflow == name))
        ctx.record_change(conn, "workflow.deleted", f"workflow:{name}", before, None)


@route(bp, "/workflows/<name>/yaml", "GET", summary="Export a workflow as YAML", permission="admin:workflows",
       tag="workflows")
def export_workflow(ctx: ApiContext, name: str):
    with ctx.runtime.db.read() as conn:
        row = _stored(conn, name)
    return Response(row.source, mimetype="application/yaml",
                    headers={"Content-Disposition": f'attachment; filename="{name}.yaml"'})


@route(bp, "/workflows/import", "POST", summary="Import a workflow from a YAML body (creates or replaces)",
       permission="admin:workflows", tag="workflows")
def import_workflow(ctx: ApiContext):
    source = request.get_data(as_text=True)
    if not source.strip():
        raise ApiError(400, "the body must be the workflow's YAML (Content-Type: application/yaml)")
    return import_yaml(ctx, source)


def import_yaml(ctx: ApiContext, source: str) -> dict[str, Any]:
    definition = _definition(ctx, source)
    with changes.delegated(ctx.runtime.db, ctx.principal) as (conn, me):
        rights.require_steps_held(conn, me, definition)
        row = store.get_workflow(conn, definition.name)
        before = store.workflow_dict(row) if row is not None else None
        store.save_workflow(conn, definition.name, definition.description, source,
                            bool(row.enabled) if row is not None else True)
        after = store.workflow_dict(store.get_workflow(conn, definition.name))
        ctx.record_change(conn, "workflow.imported", f"workflow:{definition.name}", before, after)
    return after


@route(bp, "/workflows/<name>/runs", "POST", summary="Start a run (it runs on the worker pool)",
       permission="admin:workflows", tag="workflows", body=RUN_FIELDS)
def start_run(ctx: ApiContext, name: str):
    body = ctx.body
    return start(ctx, name, body.get("args") or {}, body.get("channel", ""), body.get("chat_id", "")), 202


def start(ctx: ApiContext, name: str, args: dict[str, Any], channel: str = "", chat_id: str = "") -> dict[str, Any]:
    _check_args(args)
    if bool(channel) != bool(chat_id):
        raise ApiError(422, "channel and chat_id go together", "chat_id" if channel else "channel")
    runtime = ctx.runtime
    if channel and channel not in runtime.channels:
        raise ApiError(422, f"channel {channel!r} is not configured", "channel")
    trigger = Trigger("api", ctx.actor, f"api:{ctx.actor}:{time.time_ns()}", channel, chat_id)
    try:
        run_id, _ = start_now(runtime.db, runtime.settings.workflows, name, ctx.principal, trigger,
                              {str(k): str(v) for k, v in args.items()})
    except StartRefused as exc:
        raise ApiError(exc.status, exc.reason) from None
    runtime.dispatch.soon(WORKFLOW, run_id)     # never run inside the request
    with runtime.db.read() as conn:
        return store.run_dict(store.get_run(conn, run_id), store.steps_of(conn, run_id))


@route(bp, "/workflow-runs", "GET", summary="Recent workflow runs, newest first", permission="admin:workflows",
       tag="workflows", query={"workflow": "only this workflow's runs", "status": ", ".join(store.RUN_STATUSES)})
def list_runs(ctx: ApiContext):
    status = request.args.get("status") or None
    if status is not None and status not in store.RUN_STATUSES:
        raise ApiError(422, f"must be one of {', '.join(store.RUN_STATUSES)}", "status")
    return {"runs": runs(ctx, request.args.get("workflow") or None, status)}


def runs(ctx: ApiContext, workflow: str | None = None, status: str | None = None) -> list[dict[str, Any]]:
    with ctx.runtime.db.read() as conn:
        return [store.run_dict(r, store.steps_of(conn, r.id)) for r in store.list_runs(conn, workflow, status)]


@route(bp, "/workflow-runs/<int:run_id>", "GET", summary="One run with its steps", permission="admin:workflows",
       tag="workflows")
def get_run(ctx: ApiContext, run_id: int):
    with ctx.runtime.db.read() as conn:
        row = store.get_run(conn, run_id)
        if row is None:
            raise ApiError(404, f"there is no workflow run #{run_id}")
        return store.run_dict(row, store.steps_of(conn, run_id))


# -- schedules ------------------------------------------------------------------------------------
def _owner_id(conn: Connection, ctx: ApiContext, name: str | None) -> int:
    if not name:
        if ctx.principal is None or ctx.principal.user_id is None:
            raise ApiError(422, "name the user whose rights the runs have", "owner")
        return ctx.principal.user_id
    uid = conn.execute(sa.select(_users.c.id).where(_users.c.name == name)).scalar()
    if uid is None:
        raise ApiError(422, f"there is no user {name!r}", "owner")
    return int(uid)


def _schedule(conn: Connection, schedule_id: int) -> Row[Any]:
    row = schedules.get(conn, schedule_id)
    if row is None:
        raise ApiError(404, f"there is no schedule #{schedule_id}")
    return row


def _checked_schedule(conn: Connection, body: dict[str, Any]) -> float:
    """Check the cross-field rules; the next firing time of the cron expression."""
    try:
        following = schedules.next_time(body["cron"], time.time())
    except cron.CronError as exc:
        raise ApiError(422, exc.reason, "cron") from None
    if store.get_workflow(conn, body["workflow"]) is None:
        raise ApiError(422, f"there is no workflow {body['workflow']!r}", "workflow")
    if bool(body.get("channel")) != bool(body.get("chat_id")):
        raise ApiError(422, "channel and chat_id go together", "chat_id" if body.get("channel") else "channel")
    _check_args(body.get("args") or {})
    return following


def _check_args(args: dict[str, Any]) -> None:
    for key, value in args.items():
        if not isinstance(value, (str, int, float, bool)):
            raise ApiError(422, "must be text or a number", f"args.{key}")


@route(bp, "/schedules", "GET", summary="Workflow schedules", permission="admin:workflows", tag="workflows")
def list_schedules(ctx: ApiContext):
    return {"schedules": schedule_listing(ctx)}


def schedule_listing(ctx: ApiContext) -> list[dict[str, Any]]:
    with ctx.runtime.db.read() as conn:
        return [schedules.as_dict(r) for r in schedules.all_schedules(conn)]


@route(bp, "/schedules", "POST", summary="Add a cron schedule for a workflow", permission="admin:workflows",
       tag="workflows", body=SCHEDULE_FIELDS)
def create_schedule(ctx: ApiContext):
    return create_schedule_row(ctx, ctx.body), 201


def _chat_key(body: dict[str, Any]) -> str:
    return f"{body['channel']}:{body.get('chat_id', '')}" if body.get("channel") else ""


def create_schedule_row(ctx: ApiContext, body: dict[str, Any]) -> dict[str, Any]:
    now = time.time()
    with changes.delegated(ctx.runtime.db, ctx.principal) as (conn, me):
        following = _checked_schedule(conn, body)
        owner = _owner_id(conn, ctx, body.get("owner"))
        rights.require_run_as(conn, me, owner, body["workflow"], _chat_key(body), "schedule:new",
                              body.get("enabled", True))
        new_id = conn.execute(sa.insert(_schedules).values(
            workflow=body["workflow"], cron=body["cron"], owner_user_id=owner,
            args={str(k): str(v) for k, v in (body.get("args") or {}).items()}, channel=body.get("channel", ""),
            chat_id=body.get("chat_id", ""), enabled=body.get("enabled", True), next_run_at=following,
            created_at=now, updated_at=now).returning(_schedules.c.id)).scalar()
        after = schedules.as_dict(schedules.get(conn, new_id))
        ctx.record_change(conn, "schedule.created", f"schedule:{new_id}", None, after)
    return after


@route(bp, "/schedules/<int:schedule_id>", "GET", summary="One schedule", permission="admin:workflows",
       tag="workflows")
def get_schedule(ctx: ApiContext, schedule_id: int):
    with ctx.runtime.db.read() as conn:
        return schedules.as_dict(_schedule(conn, schedule_id))


@route(bp, "/schedules/<int:schedule_id>", "PATCH", summary="Change a schedule", permission="admin:workflows",
       tag="workflows", body=SCHEDULE_FIELDS, partial=True)
def update_schedule(ctx: ApiContext, schedule_id: int):
    return update_schedule_row(ctx, schedule_id, ctx.body)


def update_schedule_row(ctx: ApiContext, schedule_id: int, body: dict[str, Any]) -> dict[str, Any]:
    """Whoever changes a schedule must hold every right of the user it runs as (what it runs, with
    whose rights, and where the output goes are all theirs to decide), and of the new owner."""
    target = f"schedule:{schedule_id}"
    with changes.delegated(ctx.runtime.db, ctx.principal) as (conn, me):
        row = _schedule(conn, schedule_id)
        rights.require_change(conn, me, row.owner_user_id, target)
        before = schedules.as_dict(row)
        merged = {**before, **body}
        following = _checked_schedule(conn, merged)
        values = {k: merged[k] for k in ("workflow", "cron", "channel", "chat_id", "enabled")}
        values["args"] = {str(k): str(v) for k, v in (merged.get("args") or {}).items()}
        values["owner_user_id"] = _owner_id(conn, ctx, body["owner"]) if "owner" in body else row.owner_user_id
        rights.require_run_as(conn, me, values["owner_user_id"], values["workflow"], _chat_key(values), target,
                              bool(values["enabled"]))
        if "cron" in body or ("enabled" in body and body["enabled"] and not row.enabled):
            values["next_run_at"] = following
        conn.execute(sa.update(_schedules).where(_schedules.c.id == schedule_id)
                     .values(updated_at=time.time(), **values))
        after = schedules.as_dict(schedules.get(conn, schedule_id))
        ctx.record_change(conn, "schedule.updated", f"schedule:{schedule_id}", before, after)
    return after


@route(bp, "/schedules/<int:schedule_id>", "DELETE", summary="Remove a schedule", permission="admin:workflows",
       tag="workflows")
def delete_schedule(ctx: ApiContext, schedule_id: int):
    remove_schedule(ctx, schedule_id)
    return {"deleted": schedule_id}


def remove_schedule(ctx: ApiContext, schedule_id: int) -> None:
    with ctx.runtime.db.write() as conn:
        before = schedules.as_dict(_schedule(conn, schedule_id))
        conn.execute(sa.delete(_schedules).where(_schedules.c.id == schedule_id))
        ctx.record_change(conn, "schedule.deleted", f"schedule:{schedule_id}", before, None)
