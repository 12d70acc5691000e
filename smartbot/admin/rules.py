"""Routing rules on the admin page."""
from __future__ import annotations

import json

from flask import request

from ..i18n.reasons import reason
from ..manage import rules
from ..manage.errors import Invalid
from ..router.engine import ACTIONS
from ..web.context import current_runtime
from .base import actor, bp, done, json_field, page, render


def _form() -> dict:
    position = request.form.get("position", "100")
    if not position.isdigit():
        raise Invalid(reason("reason.field.whole"), "position")
    return {"name": request.form.get("name", "").strip(), "position": int(position),
            "enabled": request.form.get("enabled") == "on", "action": request.form.get("action", ""),
            "match": json_field("match"), "params": json_field("params")}


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
