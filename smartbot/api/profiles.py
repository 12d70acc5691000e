"""/api/v1/profiles: per-chat profiles (persona, language, model route, knowledge, tools, quotas).
The work is manage/profiles.py's."""
from __future__ import annotations

from flask import Blueprint

from ..manage import profiles
from .context import ApiContext
from .registry import route

bp = Blueprint("api_profiles", __name__)
PERMISSION = "admin:profiles"
TAG = "profiles"


@route(bp, "/profiles", "GET", summary="All profiles, the most specific first", permission=PERMISSION, tag=TAG)
def list_profiles(ctx: ApiContext):
    return {"items": profiles.listing(ctx.runtime.db)}


@route(bp, "/profiles", "POST", summary="Add a profile", permission=PERMISSION, tag=TAG, body=profiles.CREATE_FIELDS)
def create_profile(ctx: ApiContext):
    return profiles.create(ctx.runtime, ctx.principal, ctx.body), 201


@route(bp, "/profiles/<name>", "GET", summary="One profile", permission=PERMISSION, tag=TAG)
def get_profile(ctx: ApiContext, name: str):
    return profiles.get(ctx.runtime.db, name)


@route(bp, "/profiles/<name>", "PATCH", summary="Change a profile (the fields given)", permission=PERMISSION, tag=TAG,
       body=profiles.PROFILE_FIELDS, partial=True)
def update_profile(ctx: ApiContext, name: str):
    return profiles.update(ctx.runtime, ctx.principal, name, ctx.body)


@route(bp, "/profiles/<name>", "DELETE", summary="Remove a profile", permission=PERMISSION, tag=TAG)
def delete_profile(ctx: ApiContext, name: str):
    profiles.delete(ctx.runtime, ctx.principal, name)
    return {"deleted": name}
