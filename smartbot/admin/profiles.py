"""Per-chat profiles and hand-offs on the admin page. Profiles are listed, added, changed and
removed through manage/profiles.py with the API's own field checks, delegation and audit; agents
(handoff:answer) see the waiting hand-offs with their last turns and answer or release them here,
or from the conversation's own page, through manage/handoffs.py."""
from __future__ import annotations

import json
import uuid
from typing import Any

from flask import request

from ..manage import handoffs, model_routes, profiles
from ..manage.fields import Str, validate
from ..pipeline.handlers.handoff import MAX_REPLY_CHARS, PERMISSION as ANSWER
from ..settings.sections import LOCALES
from ..web.context import current_runtime
from .base import bp, done, json_field, number_fields, page, render

PERMISSION = "admin:profiles"
TOOLS = {"": None, "on": True, "off": False}
REPLY_FIELDS = {"text": Str(required=True, min_length=1, max_length=MAX_REPLY_CHARS),
                "key": Str(max_length=100)}


def _form(creating: bool) -> dict[str, Any]:
    """The form as the API's body (empty number fields: no limit)."""
    form = request.form
    data: dict[str, Any] = {
        "match": json_field("match"), "enabled": form.get("enabled") == "on",
        "system_prompt": form.get("system_prompt", ""), "locale": form.get("locale", ""),
        "model_route": form.get("model_route", "").strip(),
        "knowledge": [n.strip() for n in form.get("knowledge", "").split(",") if n.strip()],
        "tools": TOOLS.get(form.get("tools", ""), form.get("tools")),
        "messages_per_minute": None, "tokens_per_day": None}
    if creating:
        data["name"] = form.get("name", "").strip()
    return {**data, **number_fields({"priority": int, "messages_per_minute": int, "tokens_per_day": int})}


@bp.get("/profiles")
@page(PERMISSION)
def profiles_page(principal):
    runtime = current_runtime()
    return render("admin/profiles.html", principal=principal, profiles=profiles.listing(runtime.db),
                  route_names=[r["name"] for r in model_routes.listing(runtime.db)], locales_all=LOCALES, json=json)


@bp.post("/profiles")
@page(PERMISSION)
def profiles_create(principal):
    profiles.create(current_runtime(), principal, validate(profiles.CREATE_FIELDS, _form(True)))
    return done("saved", "admin.profiles_page")


@bp.post("/profiles/<name>")
@page(PERMISSION)
def profiles_update(principal, name: str):
    profiles.update(current_runtime(), principal, name, validate(profiles.PROFILE_FIELDS, _form(False), partial=True))
    return done("saved", "admin.profiles_page")


@bp.post("/profiles/<name>/delete")
@page(PERMISSION)
def profiles_delete(principal, name: str):
    profiles.delete(current_runtime(), principal, name)
    return done("deleted", "admin.profiles_page")


@bp.get("/handoffs")
@page(ANSWER)
def handoffs_page(principal):
    return render("admin/handoffs.html", principal=principal, items=handoffs.listing(current_runtime()),
                  form_key=uuid.uuid4().hex)


@bp.post("/handoffs/<int:handoff_id>/reply")
@page(ANSWER)
def handoffs_reply(principal, handoff_id: int):
    body = validate(REPLY_FIELDS, {"text": request.form.get("text", "").strip(), "key": request.form.get("key", "")})
    # The form's own key: sending the same form twice (a double click, a reload) answers once.
    handoffs.reply(current_runtime(), principal, handoff_id, body["text"], body.get("key", ""), via="page")
    return done("saved", "admin.handoffs_page") if request.form.get("back") != "conversation" else \
        done("saved", "admin.conversations_page", key=request.form.get("conversation", ""))


@bp.post("/handoffs/<int:handoff_id>/release")
@page(ANSWER)
def handoffs_release(principal, handoff_id: int):
    handoffs.release(current_runtime(), principal, handoff_id, via="page")
    return done("saved", "admin.handoffs_page")
