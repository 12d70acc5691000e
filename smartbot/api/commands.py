"""/api/v1/commands (the catalogue) and /api/v1/approvals (pending requests, approve, deny).

The work (checking a definition, read-only sources, audit, deciding) is manage/commands.py's,
shared with the admin page. Approving only records the decision: the run happens on the worker pool.
"""
from __future__ import annotations

from flask import Blueprint, request

from ..executor import approvals
from ..manage import commands
from .context import ApiContext
from .registry import route

bp = Blueprint("api_commands", __name__)


@route(bp, "/commands", "GET", summary="The command catalogue", permission="admin:commands", tag="commands")
def list_commands(ctx: ApiContext):
    return {"commands": commands.listing(ctx.runtime)}


@route(bp, "/commands/<name>", "GET", summary="One catalogue command", permission="admin:commands", tag="commands")
def get_command(ctx: ApiContext, name: str):
    return commands.get(ctx.runtime, name)


@route(bp, "/commands", "POST", summary="Add a command to the catalogue", permission="admin:commands",
       tag="commands", body=commands.FIELDS)
def create_command(ctx: ApiContext):
    return commands.create(ctx.runtime, ctx.principal, ctx.body), 201


@route(bp, "/commands/<name>", "PATCH", summary="Change a catalogue command", permission="admin:commands",
       tag="commands", body=commands.FIELDS, partial=True)
def update_command(ctx: ApiContext, name: str):
    return commands.update(ctx.runtime, ctx.principal, name, ctx.body)


@route(bp, "/commands/<name>", "DELETE", summary="Remove a catalogue command", permission="admin:commands",
       tag="commands")
def delete_command(ctx: ApiContext, name: str):
    commands.remove(ctx.runtime, ctx.principal, name)
    return {"deleted": name}


@route(bp, "/approvals", "GET", summary="Approval requests, newest first", permission="approval:decide",
       tag="approvals", query={"status": f"one of {', '.join(approvals.STATUSES)}"})
def list_approvals(ctx: ApiContext):
    return {"approvals": commands.approval_listing(ctx.runtime.db, request.args.get("status") or None)}


@route(bp, "/approvals/<int:approval_id>/approve", "POST", summary="Approve a pending request (it then runs on "
       "the worker pool)", permission="approval:decide", tag="approvals")
def approve(ctx: ApiContext, approval_id: int):
    return commands.decide(ctx.runtime, ctx.principal, approval_id, True)


@route(bp, "/approvals/<int:approval_id>/deny", "POST", summary="Deny a pending request",
       permission="approval:decide", tag="approvals")
def deny(ctx: ApiContext, approval_id: int):
    return commands.decide(ctx.runtime, ctx.principal, approval_id, False)
