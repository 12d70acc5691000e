"""Read access to what the system is doing: queues, inbox/outbox rows, conversations, figures."""
from __future__ import annotations

from flask import Blueprint

from ..manage import state
from . import query
from .context import ApiContext
from .registry import route

bp = Blueprint("api_state", __name__)
TAG = "state"
ROWS = {"status": "queued | leased | done | failed", "channel": "only this channel", "limit": "at most 500"}


@route(bp, "/queues", "GET", summary="Inbox and outbox depth and age", permission="admin:queues", tag=TAG)
def queues(ctx: ApiContext):
    return state.queues(ctx.runtime.db)


@route(bp, "/inbox", "GET", summary="Inbox rows, newest first", permission="admin:queues", tag=TAG, query=ROWS)
def inbox_rows(ctx: ApiContext):
    return {"rows": state.inbox_rows(ctx.runtime.db, query.text("status"), query.text("channel"),
                                     query.integer("limit", 100, 1, 500))}


@route(bp, "/outbox", "GET", summary="Outbox rows, newest first", permission="admin:queues", tag=TAG, query=ROWS)
def outbox_rows(ctx: ApiContext):
    return {"rows": state.outbox_rows(ctx.runtime.db, query.text("status"), query.text("channel"),
                                      query.integer("limit", 100, 1, 500))}


@route(bp, "/conversations", "GET", summary="Conversations, most recent first", permission="admin:conversations",
       tag=TAG, query={"channel": "only this channel", "limit": "at most 500"})
def conversations(ctx: ApiContext):
    return {"conversations": state.conversations(ctx.runtime.db, query.text("channel"),
                                                 query.integer("limit", 100, 1, 500))}


@route(bp, "/conversations/<int:conversation_id>", "GET", summary="One conversation's turns",
       permission="admin:conversations", tag=TAG)
def conversation(ctx: ApiContext, conversation_id: int):
    return state.conversation(ctx.runtime.db, conversation_id)


@route(bp, "/metrics/summary", "GET", summary="Dashboard figures (messages/min, errors, queues)",
       permission="admin:metrics", tag=TAG)
def metrics_summary(ctx: ApiContext):
    return state.summary(ctx.runtime.db)
