"""/api/v1/queues/...: the inbox's and outbox's figures as numbers, their failed entries, and retrying
or dropping one. The work and the audit are ops/queues.py's, shared with the admin page's queues page.
"""
from __future__ import annotations

from flask import Blueprint

from ..ops import queues
from . import query
from .context import ApiContext
from .registry import route

bp = Blueprint("api_queues", __name__)
PERMISSION = "admin:queues"
TAG = "state"


@route(bp, "/queues/overview", "GET", summary="Per queue: depth, oldest age (s) and failed entries, as numbers",
       permission=PERMISSION, tag=TAG)
def overview(ctx: ApiContext):
    return queues.overview(ctx.runtime.db)


@route(bp, "/queues/<which>/failed", "GET", summary="A queue's failed entries (inbox or outbox), newest first",
       permission=PERMISSION, tag=TAG, query={"limit": f"at most {queues.MAX_LISTED}"})
def failed(ctx: ApiContext, which: str):
    return {"queue": which, "items": queues.failed(ctx.runtime.db, which,
                                                   query.integer("limit", 100, 1, queues.MAX_LISTED))}


@route(bp, "/queues/<which>/failed/<int:row_id>/retry", "POST",
       summary="Queue a failed reply again and deliver it (outbox only)", permission=PERMISSION, tag=TAG)
def retry(ctx: ApiContext, which: str, row_id: int):
    return queues.retry(ctx.runtime, ctx.principal, which, row_id)


@route(bp, "/queues/<which>/failed/<int:row_id>", "DELETE", summary="Drop a failed entry for good",
       permission=PERMISSION, tag=TAG)
def drop(ctx: ApiContext, which: str, row_id: int):
    return queues.drop(ctx.runtime, ctx.principal, which, row_id)
