"""/api/v1/model-routes: which provider chain answers which chat messages, changed at run time.

The work is manage/model_routes.py's; routes from smartbot.toml are read-only.
"""
from __future__ import annotations

from flask import Blueprint

from ..manage import model_routes
from .context import ApiContext
from .models import PERMISSION
from .registry import route

bp = Blueprint("api_model_routes", __name__)


@route(bp, "/model-routes", "GET", summary="All model routes, in the order they are tried", permission=PERMISSION,
       tag="models")
def list_routes(ctx: ApiContext):
    return {"items": model_routes.listing(ctx.runtime.db)}


@route(bp, "/model-routes", "POST", summary="Add a model route", permission=PERMISSION, tag="models",
       body=model_routes.CREATE_FIELDS)
def create_route(ctx: ApiContext):
    return model_routes.create(ctx.runtime, ctx.principal, ctx.body), 201


@route(bp, "/model-routes/<name>", "GET", summary="One model route", permission=PERMISSION, tag="models")
def get_route(ctx: ApiContext, name: str):
    return model_routes.get(ctx.runtime.db, name)


@route(bp, "/model-routes/<name>", "PATCH", summary="Change a model route (the fields given)", permission=PERMISSION,
       tag="models", body=model_routes.ROUTE_FIELDS, partial=True)
def update_route(ctx: ApiContext, name: str):
    return model_routes.update(ctx.runtime, ctx.principal, name, ctx.body)


@route(bp, "/model-routes/<name>", "DELETE", summary="Remove a model route", permission=PERMISSION, tag="models")
def delete_route(ctx: ApiContext, name: str):
    model_routes.delete(ctx.runtime, ctx.principal, name)
    return {"deleted": name}
