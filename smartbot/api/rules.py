"""Routing rules, changed at run time."""
from __future__ import annotations

from flask import Blueprint

from ..manage import rules
from ..manage.fields import Bool, Int, Obj, Str
from ..router.engine import ACTIONS
from .context import ApiContext
from .registry import route

bp = Blueprint("api_rules", __name__)
TAG = "rules"
RULE_FIELDS = {
    "name": Str(min_length=1, max_length=100),
    "position": Int(minimum=0, maximum=100000, description="lower runs first"),
    "enabled": Bool(),
    "match": Obj(description="conditions: channel, chat_id, role, command, chat_type, mentioned, prefix, regex, "
                             "keywords, min_length, max_length"),
    "action": Str(choices=ACTIONS),
    "params": Obj(),
}


@route(bp, "/rules", "GET", summary="All routing rules in order", permission="admin:rules", tag=TAG)
def list_rules(ctx: ApiContext):
    return {"rules": rules.list_rules(ctx.runtime.db)}


@route(bp, "/rules", "POST", summary="Create a rule", permission="admin:rules", tag=TAG,
       body={**RULE_FIELDS, "name": Str(required=True, min_length=1, max_length=100),
             "action": Str(required=True, choices=ACTIONS)})
def create_rule(ctx: ApiContext):
    return rules.create_rule(ctx.runtime.db, ctx.actor, ctx.body), 201


@route(bp, "/rules/<int:rule_id>", "PATCH", summary="Change a rule", permission="admin:rules", tag=TAG,
       body=RULE_FIELDS, partial=True)
def update_rule(ctx: ApiContext, rule_id: int):
    return rules.update_rule(ctx.runtime.db, ctx.actor, rule_id, ctx.body)


@route(bp, "/rules/<int:rule_id>", "DELETE", summary="Delete a rule", permission="admin:rules", tag=TAG)
def delete_rule(ctx: ApiContext, rule_id: int):
    rules.delete_rule(ctx.runtime.db, ctx.actor, rule_id)
    return {"status": "deleted"}
