"""The "Workflows & runs" page: workflows with their YAML (edit, enable, delete, run into a chat or
onto the page), recent runs with their step states, one run's page, and schedules. Every change
goes through the same management functions and field declarations as the admin API (manage/),
so it is validated and audited exactly as an API call would be."""
from __future__ import annotations

from typing import Any

from flask import request

from ..i18n import t
from ..i18n.reasons import reason
from ..manage import conversations, names, workflows
from ..manage.errors import Invalid
from ..manage.fields import validate
from ..web.context import current_runtime
from ..workflows.definition import DefinitionError, parse_chat_args
from ..workflows.store import FAILED, RUN_STATUSES, STEP_STATUSES, STOPPED, SUCCEEDED
from .base import bp, done, locale, page, render

FINISHED = (SUCCEEDED, FAILED, STOPPED)
STATUSES = frozenset(RUN_STATUSES + STEP_STATUSES)      # each has a label in the catalogues


def _args(text: str) -> dict[str, Any]:
    """`key=value` pairs separated by spaces or lines, as after `/workflow <name>` in chat."""
    try:
        return dict(parse_chat_args(text.split()))
    except DefinitionError as exc:
        raise Invalid(exc.reason, "args") from None


def _chat(value: str) -> dict[str, str]:
    """The form's chat (`channel:chat_id`, as the chat list offers them) as the API's two fields;
    none when empty: the run's messages are then shown on its page."""
    channel, _, chat_id = value.strip().partition(":")
    if not channel:
        return {}
    if not chat_id:
        raise Invalid(reason("reason.workflow.choose_chat"), "chat")
    return {"channel": channel, "chat_id": chat_id}


def _named_runs(db: Any, runs: list[dict[str, Any]]) -> list[dict[str, Any]]:
    with db.read() as conn:
        who = names.actors_named(conn, {r["triggered_by"] for r in runs})
    return [{**r, "who": who[r["triggered_by"]]} for r in runs]


@bp.get("/workflows")
@page("admin:workflows")
def workflows_page(principal):
    db = current_runtime().db
    return render("admin/workflows.html", principal=principal, workflows=workflows.listing(db),
                  runs=_named_runs(db, workflows.runs(db)), schedules=workflows.schedule_listing(db),
                  chats=conversations.known_chats(db), run_statuses=STATUSES)


@bp.get("/workflows/runs/<int:run_id>")
@page("admin:workflows")
def workflow_run_page(principal, run_id: int):
    db = current_runtime().db
    run = _named_runs(db, [workflows.run(db, run_id)])[0]
    return render("admin/workflow_run.html", principal=principal, run=run, finished=run["status"] in FINISHED,
                  run_statuses=STATUSES)


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
    body = validate(workflows.RUN_FIELDS, {"args": _args(request.form.get("args", "")),
                                           **_chat(request.form.get("chat", ""))})
    run = workflows.start(current_runtime(), principal, name, body["args"], body.get("channel", ""),
                          body.get("chat_id", ""))
    return done(t("admin.flash.run_started", locale(), id=run["id"], name=name), "admin.workflow_run_page",
                run_id=run["id"])


@bp.post("/schedules")
@page("admin:workflows")
def schedules_create(principal):
    form = request.form
    data: dict[str, Any] = {k: form.get(k, "").strip() for k in ("workflow", "cron", "owner")}
    data = {k: v for k, v in data.items() if v or k in ("workflow", "cron")}
    data.update(_chat(form.get("chat", "")))
    data["args"] = _args(form.get("args", ""))
    workflows.create_schedule(current_runtime(), principal, validate(workflows.SCHEDULE_FIELDS, data))
    return done("saved", "admin.workflows_page")


@bp.post("/schedules/<int:schedule_id>/delete")
@page("admin:workflows")
def schedules_delete(principal, schedule_id: int):
    workflows.remove_schedule(current_runtime(), principal, schedule_id)
    return done("deleted", "admin.workflows_page")
