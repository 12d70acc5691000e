"""/api/v1/model-routes: which provider chain answers which chat messages, changed at run time.

A route matches like a routing rule and names a provider, its fallbacks, an optional cache TTL
(FAQ-style answers) and an optional system prompt. Routes from smartbot.toml are read-only here.
Every change is audited with before/after and takes effect on the next message.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row
from flask import Blueprint

from ..live_config import PROVIDERS_VERSION
from ..model_routes import CACHE_TTL_MAX, match_problems
from ..models import ModelRoute, Provider
from .context import ApiContext, ApiError
from .models import NAME, PERMISSION
from .named_rows import NamedRows
from .registry import route
from .schema import Bool, Int, List, Num, Obj, Str

bp = Blueprint("api_model_routes", __name__)
_routes, _providers = ModelRoute.__table__, Provider.__table__

ROUTE_FIELDS = {
    "provider": Str(required=True, pattern=NAME, max_length=100, description="the provider that answers first"),
    "match": Obj(description="channel, chat_id, role, command, chat_type, mentioned, prefix, regex, keywords, "
                             "min_length, max_length; all must hold; {} matches everything"),
    "fallback": List(item=Str(pattern=NAME, max_length=100), max_items=10,
                     description="providers to try next, before the default chain"),
    "position": Int(minimum=0, maximum=1_000_000, description="lower positions are tried first"),
    "cache_ttl": Num(minimum=0, maximum=CACHE_TTL_MAX,
                     description="seconds to reuse the answer to the same question (no history sent); 0 = off"),
    "system_prompt": Str(max_length=4000, description="{bot_name} and {language} are filled in"),
    "enabled": Bool(),
}
COLUMNS = tuple(ROUTE_FIELDS)


def route_config(row: Row[Any]) -> dict[str, Any]:
    return {"name": row.name, "provider": row.provider, "match": row.match or {}, "fallback": list(row.fallback or []),
            "position": row.position, "cache_ttl": row.cache_ttl, "system_prompt": row.system_prompt,
            "enabled": row.enabled, "source": row.source}


ROUTES = NamedRows(_routes, "model route", "model_route", PROVIDERS_VERSION, route_config)


@route(bp, "/model-routes", "GET", summary="All model routes, in the order they are tried", permission=PERMISSION,
       tag="models")
def list_routes(ctx: ApiContext):
    return {"items": sorted(ROUTES.all(ctx), key=lambda r: (r["position"], r["name"]))}


@route(bp, "/model-routes", "POST", summary="Add a model route", permission=PERMISSION, tag="models",
       body={"name": Str(required=True, pattern=NAME, max_length=100), **ROUTE_FIELDS})
def create_route(ctx: ApiContext):
    body = _checked(ctx, ctx.body)
    values = {"match": {}, "fallback": [], "position": 100, "cache_ttl": 0.0, "system_prompt": "", "enabled": True}
    values.update({k: body[k] for k in COLUMNS if k in body})
    return ROUTES.create(ctx, body["name"], values), 201


@route(bp, "/model-routes/<name>", "GET", summary="One model route", permission=PERMISSION, tag="models")
def get_route(ctx: ApiContext, name: str):
    return route_config(ROUTES.one(ctx, name))


@route(bp, "/model-routes/<name>", "PATCH", summary="Change a model route (the fields given)", permission=PERMISSION,
       tag="models", body=ROUTE_FIELDS, partial=True)
def update_route(ctx: ApiContext, name: str):
    body = _checked(ctx, ctx.body)
    return ROUTES.update(ctx, name, lambda row: {k: body[k] for k in COLUMNS if k in body})


@route(bp, "/model-routes/<name>", "DELETE", summary="Remove a model route", permission=PERMISSION, tag="models")
def delete_route(ctx: ApiContext, name: str):
    ROUTES.delete(ctx, name)
    return {"deleted": name}


def _checked(ctx: ApiContext, body: dict[str, Any]) -> dict[str, Any]:
    if "match" in body:
        problems = match_problems(body["match"])
        if problems:
            raise ApiError(422, "; ".join(problems), "match")
    named = [("provider", body["provider"])] if "provider" in body else []
    named += [(f"fallback[{i}]", n) for i, n in enumerate(body.get("fallback") or [])]
    if named:
        with ctx.runtime.db.read() as conn:
            known = set(conn.execute(sa.select(_providers.c.name)).scalars())
        for field_name, name in named:
            if name not in known:
                raise ApiError(422, f"no provider named {name!r}", field_name)
    return body
