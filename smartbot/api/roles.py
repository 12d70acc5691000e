"""Roles, their permission patterns, and the declared permissions a pattern may grant."""
from __future__ import annotations

from flask import Blueprint

from ..auth.permissions import PERMISSIONS
from ..manage import roles
from ..manage.fields import List, Str
from .context import ApiContext
from .registry import route

bp = Blueprint("api_roles", __name__)
TAG = "roles"
ROLE_FIELDS = {
    "description": Str(max_length=500),
    "permissions": List(item=Str(min_length=1, max_length=200), max_items=200),
    "chat_scope": List(item=Str(max_length=300), max_items=500, nullable=True,
                       description="chat keys (channel:chat_id) the role applies in; null = everywhere"),
}
NAME = Str(required=True, min_length=1, max_length=100, pattern=r"[A-Za-z0-9_.\-]+")


@route(bp, "/permissions", "GET", summary="Every permission SmartBot checks, with what it allows",
       permission="admin:roles", tag=TAG)
def list_permissions(ctx: ApiContext):
    return {"permissions": [{"name": k, "description": v} for k, v in PERMISSIONS.items()]}


@route(bp, "/roles", "GET", summary="All roles", permission="admin:roles", tag=TAG)
def list_roles(ctx: ApiContext):
    return {"roles": roles.list_roles(ctx.runtime.db)}


@route(bp, "/roles", "POST", summary="Create a role", permission="admin:roles", tag=TAG,
       body={"name": NAME, **ROLE_FIELDS})
def create_role(ctx: ApiContext):
    return roles.create_role(ctx.runtime.db, ctx.principal, ctx.body), 201


@route(bp, "/roles/<name>", "GET", summary="One role", permission="admin:roles", tag=TAG)
def get_role(ctx: ApiContext, name: str):
    return roles.get_role(ctx.runtime.db, name)


@route(bp, "/roles/<name>", "PATCH", summary="Change a role's permissions, scope or description",
       permission="admin:roles", tag=TAG, body=ROLE_FIELDS, partial=True)
def update_role(ctx: ApiContext, name: str):
    return roles.update_role(ctx.runtime.db, ctx.principal, name, ctx.body)


@route(bp, "/roles/<name>/copy", "POST", summary="Copy a role (e.g. a template) under a new name",
       permission="admin:roles", tag=TAG, body={"name": NAME})
def copy_role(ctx: ApiContext, name: str):
    return roles.copy_role(ctx.runtime.db, ctx.principal, name, ctx.body["name"]), 201


@route(bp, "/roles/<name>", "DELETE", summary="Delete a role", permission="admin:roles", tag=TAG)
def delete_role(ctx: ApiContext, name: str):
    roles.delete_role(ctx.runtime.db, ctx.principal, name, ctx.runtime.settings.security.default_role)
    return {"status": "deleted"}
