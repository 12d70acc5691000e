"""Routing rules on the admin page."""
from __future__ import annotations

import json

from flask import request

from ..errors import PayloadError
from ..httputil import load_json
from ..manage import rules
from ..manage.errors import Invalid
from ..router.engine import ACTIONS
from ..web.context import current_runtime
from .base import actor, bp, done, page, render


def _json_field(name: str) -> dict:
    text = request.form.get(name, "").strip() or "{}"
    try:
        value = load_json(text)
    except PayloadError as exc:
        raise Invalid(f"not valid JSON ({exc.reason})", name) from None
    if not isinstance(value, dict):
        raise Invalid("must be a JSON object", name)
    return value


def _form() -> dict:
    position = request.form.get("position", "100")
    if not position.isdigit():
        raise Invalid("must be a whole number", "position")
    return {"name": request.form.get("name", "").strip(), "position": int(position),
            "enabled": request.form.get("enabled") == "on", "action": request.form.get("action", ""),
            "match": _json_field("match"), "params": _json_field("params")}


@bp.get("/rules")
@page("admin:rules")
def rules_page(principal):
    return render("admin/rules.html", principal=principal, rules=rules.list_rules(current_runtime().db),
                  actions=ACTIONS, json=json)


@bp.post("/rules")
@page("admin:rules")
def rules_create(principal):
    rules.create_rule(current_runtime().db, actor(principal), _form())
    return done("saved", "admin.rules_page")


@bp.post("/rules/<int:rule_id>")
@page("admin:rules")
def rules_update(principal, rule_id: int):
    rules.update_rule(current_runtime().db, actor(principal), rule_id, _form())
    return done("saved", "admin.rules_page")


@bp.post("/rules/<int:rule_id>/delete")
@page("admin:rules")
def rules_delete(principal, rule_id: int):
    rules.delete_rule(current_runtime().db, actor(principal), rule_id)
    return done("deleted", "admin.rules_page")
