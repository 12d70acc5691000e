"""The "Workflows & runs" page: workflows with their YAML (edit, enable, delete, run), recent runs
with their step states, and schedules. Every change goes through the same management functions and
field declarations as the admin API (manage/), so it is validated and audited exactly as an API
call would be."""
from __future__ import annotations

from typing import Any

from flask import request

from ..manage import workflows
from ..manage.errors import Invalid
from ..manage.fields import validate
from ..web.context import current_runtime
from ..workflows.definition import DefinitionError, parse_chat_args
from .base import bp, done, page, render


def _args(text: str) -> dict[str, Any]:
    """`key=value` pairs separated by spaces or lines, as after `/workflow <name>` in chat."""
    try:
        return dict(parse_chat_args(text.split()))
    except DefinitionError as exc:
        raise Invalid(exc.reason, "args") from None


@bp.get("/workflows")
@page("admin:workflows")
def workflows_page(principal):
    db = current_runtime().db
    return render("admin/workflows.html", principal=principal, workflows=workflows.listing(db),
                  runs=workflows.runs(db), schedules=workflows.schedule_listing(db))


@bp.post("/workflows")
@page("admin:workflows")
def workflows_create(principal):
    body = validate(workflows.WORKFLOW_FIELDS, {"yaml": request.form.get("yaml", "")})
    workflows.create(current_runtime(), principal, body["yaml"])
    return done("saved", "admin.workflows_page")


@bp.post("/workflows/<name>")
@page("admin:workflows")
def workflows_update(principal, name: str):
    body = validate(workflows.WORKFLOW_FIELDS, {"yaml": request.form.get("yaml", ""),
                                                "enabled": request.form.get("enabled") == "on"})
    workflows.update(current_runtime(), principal, name, body)
    return done("saved", "admin.workflows_page")


@bp.post("/workflows/<name>/delete")
@page("admin:workflows")
def workflows_delete(principal, name: str):
    workflows.remove(current_runtime(), principal, name)
    return done("deleted", "admin.workflows_page")


@bp.post("/workflows/<name>/run")
@page("admin:workflows")
def workflows_run(principal, name: str):
    workflows.start(current_runtime(), principal, name, _args(request.form.get("args", "")))
    return done("saved", "admin.workflows_page")


@bp.post("/schedules")
@page("admin:workflows")
def schedules_create(principal):
    form = request.form
    data: dict[str, Any] = {k: form.get(k, "").strip() for k in ("workflow", "cron", "owner", "channel", "chat_id")}
    data = {k: v for k, v in data.items() if v or k in ("workflow", "cron")}
    data["args"] = _args(form.get("args", ""))
    workflows.create_schedule(current_runtime(), principal, validate(workflows.SCHEDULE_FIELDS, data))
    return done("saved", "admin.workflows_page")


@bp.post("/schedules/<int:schedule_id>/delete")
@page("admin:workflows")
def schedules_delete(principal, schedule_id: int):
    workflows.remove_schedule(current_runtime(), principal, schedule_id)
    return done("deleted", "admin.workflows_page")
