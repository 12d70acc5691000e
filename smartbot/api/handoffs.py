"""/api/v1/handoffs: conversations handed to a person; an agent answers or gives them back.
`Idempotency-Key` on a reply makes a retried request send the answer once. The work is
manage/handoffs.py's."""
from __future__ import annotations

from flask import Blueprint, request

from ..manage import handoffs
from ..manage.fields import Str
from ..pipeline.handlers.handoff import MAX_REPLY_CHARS, PERMISSION
from .context import ApiContext
from .registry import route

bp = Blueprint("api_handoffs", __name__)
TAG = "handoffs"


@route(bp, "/handoffs", "GET", summary="Waiting and recent hand-offs, each with its last turns", permission=PERMISSION,
       tag=TAG)
def list_handoffs(ctx: ApiContext):
    return {"items": handoffs.listing(ctx.runtime)}


@route(bp, "/handoffs/<int:handoff_id>/reply", "POST", summary="Answer the customer of a hand-off",
       permission=PERMISSION, tag=TAG,
       body={"text": Str(required=True, min_length=1, max_length=MAX_REPLY_CHARS, description="sent as it is")})
def reply(ctx: ApiContext, handoff_id: int):
    key = request.headers.get("Idempotency-Key", "")[:200]
    return {"status": handoffs.reply(ctx.runtime, ctx.principal, handoff_id, ctx.body["text"], key)}


@route(bp, "/handoffs/<int:handoff_id>/release", "POST", summary="Give the conversation back to the bot",
       permission=PERMISSION, tag=TAG)
def release(ctx: ApiContext, handoff_id: int):
    handoffs.release(ctx.runtime, ctx.principal, handoff_id)
    return {"status": "released"}
