"""/api/v1/tokens: personal API tokens (for SmartBot's /mcp). Anyone who may log in manages their
own; `?all=true` lists every user's and `user` makes one for another user, both with admin:users
(manage/api_tokens.py holds the rules). The token is in the answer to POST only, once."""
from __future__ import annotations

from flask import Blueprint

from ..manage import api_tokens
from . import query
from .context import ApiContext, ApiError
from .registry import route

bp = Blueprint("api_tokens", __name__)
TAG = "tokens"


@route(bp, "/tokens", "GET", summary="Your API tokens (every user's with all=true and admin:users)",
       permission="admin:login", tag=TAG, query={"all": "true: every user's tokens (needs admin:users)"})
def list_tokens(ctx: ApiContext):
    everyone = query.text("all") or ""
    if everyone not in ("", "true", "false"):
        raise ApiError(400, "query parameter all must be true or false", "all")
    return {"tokens": api_tokens.listing(ctx.runtime.db, ctx.principal, everyone == "true")}


@route(bp, "/tokens", "POST", summary="Make an API token; the answer shows it, once",
       permission="admin:login", tag=TAG, body=api_tokens.CREATE_FIELDS)
def create_token(ctx: ApiContext):
    return api_tokens.create(ctx.runtime.db, ctx.principal, ctx.body), 201


@route(bp, "/tokens/<int:token_id>", "DELETE", summary="Revoke an API token (another user's needs admin:users)",
       permission="admin:login", tag=TAG)
def revoke_token(ctx: ApiContext, token_id: int):
    return api_tokens.revoke(ctx.runtime.db, ctx.principal, token_id)
