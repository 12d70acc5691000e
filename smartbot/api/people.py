"""Users and the platform identities bound to them."""
from __future__ import annotations

from flask import Blueprint, request

from ..manage import identities, users
from ..manage.fields import Bool, Int, List, Str
from .context import ApiContext
from .registry import route

bp = Blueprint("api_people", __name__)
TAG = "users"
USER_FIELDS = {
    "display_name": Str(max_length=200),
    "password": Str(max_length=200, description="only for users who log in to the admin page/API"),
    "roles": List(item=Str(max_length=100), max_items=50),
    "is_active": Bool(),
    "locale": Str(max_length=20),
}


@route(bp, "/users", "GET", summary="All users with their roles and identities", permission="admin:users", tag=TAG)
def list_users(ctx: ApiContext):
    return {"users": users.list_users(ctx.runtime.db)}


@route(bp, "/users", "POST", summary="Create a user", permission="admin:users", tag=TAG,
       body={"name": Str(required=True, min_length=1, max_length=100), **USER_FIELDS})
def create_user(ctx: ApiContext):
    return users.create_user(ctx.runtime.db, ctx.principal, ctx.body), 201


@route(bp, "/users/<int:user_id>", "GET", summary="One user", permission="admin:users", tag=TAG)
def get_user(ctx: ApiContext, user_id: int):
    return users.get_user(ctx.runtime.db, user_id)


@route(bp, "/users/<int:user_id>", "PATCH", summary="Change a user (roles, password, active, ...)",
       permission="admin:users", tag=TAG, body=USER_FIELDS, partial=True)
def update_user(ctx: ApiContext, user_id: int):
    return users.update_user(ctx.runtime.db, ctx.principal, user_id, ctx.body)


@route(bp, "/users/<int:user_id>", "DELETE", summary="Delete a user (their identities become unbound)",
       permission="admin:users", tag=TAG)
def delete_user(ctx: ApiContext, user_id: int):
    users.delete_user(ctx.runtime.db, ctx.principal, user_id)
    return {"status": "deleted"}


@route(bp, "/identities", "GET", summary="Platform identities seen or bound", permission="admin:users", tag=TAG,
       query={"channel": "only this channel", "unbound": "1: only identities bound to no user"})
def list_identities(ctx: ApiContext):
    return {"identities": identities.list_identities(ctx.runtime.db, request.args.get("channel") or None,
                                                     request.args.get("unbound") == "1")}


@route(bp, "/identities", "POST", summary="Bind a platform identity to a user (creating it if new)",
       permission="admin:users", tag=TAG,
       body=identities.BIND_FIELDS)
def bind_identity(ctx: ApiContext):
    b = ctx.body
    return identities.bind(ctx.runtime.db, ctx.principal, b["channel"], b["platform_user_id"], b["user_id"],
                           b.get("display_name", "")), 201


@route(bp, "/identities/<int:identity_id>", "PATCH", summary="Bind or unbind (user_id null) an identity",
       permission="admin:users", tag=TAG, body={"user_id": Int(required=True, nullable=True, minimum=1)})
def update_identity(ctx: ApiContext, identity_id: int):
    return identities.update(ctx.runtime.db, ctx.principal, identity_id, ctx.body["user_id"])


@route(bp, "/identities/<int:identity_id>", "DELETE", summary="Forget a platform identity",
       permission="admin:users", tag=TAG)
def delete_identity(ctx: ApiContext, identity_id: int):
    identities.delete(ctx.runtime.db, ctx.principal, identity_id)
    return {"status": "deleted"}
