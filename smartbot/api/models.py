"""/api/v1/providers and /api/v1/models/active: model providers at run time, no restart needed.

The work (key rules, audit, the provider test) is manage/providers.py's, shared with the admin page.
"""
from __future__ import annotations

from flask import Blueprint

from ..manage import providers
from .context import ApiContext
from .registry import route

bp = Blueprint("api_models", __name__)
PERMISSION = "admin:providers"


@route(bp, "/providers", "GET", summary="All model providers, with their circuit state", permission=PERMISSION,
       tag="models")
def list_providers(ctx: ApiContext):
    return {"items": providers.listing(ctx.runtime)}


@route(bp, "/providers", "POST", summary="Add a model provider", permission=PERMISSION, tag="models",
       body=providers.CREATE_FIELDS)
def create_provider(ctx: ApiContext):
    return providers.create(ctx.runtime, ctx.principal, ctx.body), 201


@route(bp, "/providers/<name>", "GET", summary="One model provider", permission=PERMISSION, tag="models")
def get_provider(ctx: ApiContext, name: str):
    return providers.get(ctx.runtime, name)


@route(bp, "/providers/<name>", "PATCH", summary="Change a model provider (the fields given)", permission=PERMISSION,
       tag="models", body=providers.UPDATE_FIELDS, partial=True)
def update_provider(ctx: ApiContext, name: str):
    return providers.update(ctx.runtime, ctx.principal, name, ctx.body)


@route(bp, "/providers/<name>", "DELETE", summary="Remove a model provider that nothing uses", permission=PERMISSION,
       tag="models")
def delete_provider(ctx: ApiContext, name: str):
    providers.delete(ctx.runtime, ctx.principal, name)
    return {"deleted": name}


@route(bp, "/providers/<name>/test", "POST",
       summary="Test a provider: one real one-token completion, no retries, no redirects; answers ok or a status "
               "and a fixed reason (never the provider's answer); audited", permission=PERMISSION, tag="models")
def test_provider(ctx: ApiContext, name: str):
    return providers.test(ctx.runtime, ctx.principal, name)


@route(bp, "/models/active", "GET", summary="The default provider, its fallbacks and the chain in effect",
       permission=PERMISSION, tag="models")
def get_active(ctx: ApiContext):
    return {**providers.active(ctx.runtime.db), "chain": providers.chain(ctx.runtime)}


@route(bp, "/models/active", "PUT", summary="Switch the default provider and its fallback chain in one call",
       permission=PERMISSION, tag="models", body=providers.SWITCH_FIELDS)
def switch_active(ctx: ApiContext):
    return providers.switch(ctx.runtime, ctx.principal, ctx.body["default"], ctx.body.get("fallback", []))
