"""The "Workflows & runs" page: workflows with their YAML (edit, enable, delete, run), recent runs
with their step states, and schedules. Every change goes through the admin API's own functions,
so it is validated and audited exactly as an API call would be."""
from __future__ import annotations

from typing import Any

from flask import request

from ..api import workflows as workflows_api
from ..api.context import ApiError
from ..workflows.definition import DefinitionError, parse_chat_args
from .base import api_context, bp, checked, done, page, render


def _args(text: str) -> dict[str, Any]:
    """`key=value` pairs separated by spaces or lines, as after `/workflow <name>` in chat."""
    try:
        return dict(parse_chat_args(text.split()))
    except DefinitionError as exc:
        raise ApiError(422, exc.reason, "args") from None


@bp.get("/workflows")
@page("admin:workflows")
def workflows_page(principal):
    ctx = api_context(principal)
    return render("admin/workflows.html", principal=principal, workflows=workflows_api.listing(ctx),
                  runs=workflows_api.runs(ctx), schedules=workflows_api.schedule_listing(ctx))


@bp.post("/workflows")
@page("admin:workflows")
def workflows_create(principal):
    body = checked(workflows_api.WORKFLOW_FIELDS, {"yaml": request.form.get("yaml", "")})
    workflows_api.create(api_context(principal), body["yaml"])
    return done("saved", "admin.workflows_page")


@bp.post("/workflows/<name>")
@page("admin:workflows")
def workflows_update(principal, name: str):
    body = checked(workflows_api.WORKFLOW_FIELDS, {"yaml": request.form.get("yaml", ""),
                                                   "enabled": request.form.get("enabled") == "on"})
    workflows_api.update(api_context(principal), name, body)
    return done("saved", "admin.workflows_page")


@bp.post("/workflows/<name>/delete")
@page("admin:workflows")
def workflows_delete(principal, name: str):
    workflows_api.remove(api_context(principal), name)
    return done("deleted", "admin.workflows_page")


@bp.post("/workflows/<name>/run")
@page("admin:workflows")
def workflows_run(principal, name: str):
    workflows_api.start(api_context(principal), name, _args(request.form.get("args", "")))
    return done("saved", "admin.workflows_page")


@bp.post("/schedules")
@page("admin:workflows")
def schedules_create(principal):
    form = request.form
    data: dict[str, Any] = {k: form.get(k, "").strip() for k in ("workflow", "cron", "owner", "channel", "chat_id")}
    data = {k: v for k, v in data.items() if v or k in ("workflow", "cron")}
    data["args"] = _args(form.get("args", ""))
    workflows_api.create_schedule_row(api_context(principal), checked(workflows_api.SCHEDULE_FIELDS, data))
    return done("saved", "admin.workflows_page")


@bp.post("/schedules/<int:schedule_id>/delete")
@page("admin:workflows")
def schedules_delete(principal, schedule_id: int):
    workflows_api.remove_schedule(api_context(principal), schedule_id)
    return done("deleted", "admin.workflows_page")
