"""/api/v1/workflows (definitions, YAML export and import, starting runs), /api/v1/workflow-runs
(runs with their step states) and /api/v1/schedules (cron schedules).

The work (checking a definition, delegation, audit) is manage/workflows.py's, shared with the
admin page. Starting a run only stores it: it runs on the worker pool.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from ..manage import workflows
from ..workflows import store
from .context import ApiContext, ApiError
from .registry import route

bp = Blueprint("api_workflows", __name__)


@route(bp, "/workflows", "GET", summary="Every workflow", permission="admin:workflows", tag="workflows")
def list_workflows(ctx: ApiContext):
    return {"workflows": workflows.listing(ctx.runtime.db)}


@route(bp, "/workflows/<name>", "GET", summary="One workflow with its YAML", permission="admin:workflows",
       tag="workflows")
def get_workflow(ctx: ApiContext, name: str):
    return workflows.get(ctx.runtime.db, name)


@route(bp, "/workflows", "POST", summary="Add a workflow from YAML", permission="admin:workflows",
       tag="workflows", body=workflows.WORKFLOW_FIELDS)
def create_workflow(ctx: ApiContext):
    return workflows.create(ctx.runtime, ctx.principal, ctx.body["yaml"], ctx.body.get("enabled", True)), 201


@route(bp, "/workflows/<name>", "PATCH", summary="Change a workflow's YAML or enabled flag",
       permission="admin:workflows", tag="workflows", body=workflows.WORKFLOW_FIELDS, partial=True)
def update_workflow(ctx: ApiContext, name: str):
    return workflows.update(ctx.runtime, ctx.principal, name, ctx.body)


@route(bp, "/workflows/<name>", "DELETE", summary="Remove a workflow (and its schedules)",
       permission="admin:workflows", tag="workflows")
def delete_workflow(ctx: ApiContext, name: str):
    workflows.remove(ctx.runtime, ctx.principal, name)
    return {"deleted": name}


@route(bp, "/workflows/<name>/yaml", "GET", summary="Export a workflow as YAML", permission="admin:workflows",
       tag="workflows")
def export_workflow(ctx: ApiContext, name: str):
    return Response(workflows.source(ctx.runtime.db, name), mimetype="application/yaml",
                    headers={"Content-Disposition": f'attachment; filename="{name}.yaml"'})


@route(bp, "/workflows/import", "POST", summary="Import a workflow from a YAML body (creates or replaces)",
       permission="admin:workflows", tag="workflows")
def import_workflow(ctx: ApiContext):
    source = request.get_data(as_text=True)
    if not source.strip():
        raise ApiError(400, "the body must be the workflow's YAML (Content-Type: application/yaml)")
    return workflows.import_yaml(ctx.runtime, ctx.principal, source)


@route(bp, "/workflows/<name>/runs", "POST", summary="Start a run (it runs on the worker pool)",
       permission="admin:workflows", tag="workflows", body=workflows.RUN_FIELDS)
def start_run(ctx: ApiContext, name: str):
    body = ctx.body
    return workflows.start(ctx.runtime, ctx.principal, name, body.get("args") or {}, body.get("channel", ""),
                           body.get("chat_id", "")), 202


@route(bp, "/workflow-runs", "GET", summary="Recent workflow runs, newest first", permission="admin:workflows",
       tag="workflows", query={"workflow": "only this workflow's runs", "status": ", ".join(store.RUN_STATUSES)})
def list_runs(ctx: ApiContext):
    return {"runs": workflows.runs(ctx.runtime.db, request.args.get("workflow") or None,
                                   request.args.get("status") or None)}


@route(bp, "/workflow-runs/<int:run_id>", "GET", summary="One run with its steps", permission="admin:workflows",
       tag="workflows")
def get_run(ctx: ApiContext, run_id: int):
    return workflows.run(ctx.runtime.db, run_id)


@route(bp, "/schedules", "GET", summary="Workflow schedules", permission="admin:workflows", tag="workflows")
def list_schedules(ctx: ApiContext):
    return {"schedules": workflows.schedule_listing(ctx.runtime.db)}


@route(bp, "/schedules", "POST", summary="Add a cron schedule for a workflow", permission="admin:workflows",
       tag="workflows", body=workflows.SCHEDULE_FIELDS)
def create_schedule(ctx: ApiContext):
    return workflows.create_schedule(ctx.runtime, ctx.principal, ctx.body), 201


@route(bp, "/schedules/<int:schedule_id>", "GET", summary="One schedule", permission="admin:workflows",
       tag="workflows")
def get_schedule(ctx: ApiContext, schedule_id: int):
    return workflows.get_schedule(ctx.runtime.db, schedule_id)


@route(bp, "/schedules/<int:schedule_id>", "PATCH", summary="Change a schedule", permission="admin:workflows",
       tag="workflows", body=workflows.SCHEDULE_FIELDS, partial=True)
def update_schedule(ctx: ApiContext, schedule_id: int):
    return workflows.update_schedule(ctx.runtime, ctx.principal, schedule_id, ctx.body)


@route(bp, "/schedules/<int:schedule_id>", "DELETE", summary="Remove a schedule", permission="admin:workflows",
       tag="workflows")
def delete_schedule(ctx: ApiContext, schedule_id: int):
    workflows.remove_schedule(ctx.runtime, ctx.principal, schedule_id)
    return {"deleted": schedule_id}
