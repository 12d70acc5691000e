"""/api/v1/commands (the catalogue) and /api/v1/approvals (pending requests, approve, deny).

A definition is checked by the same code that checks [[commands]] in the file and every stored row
before it runs (executor.catalogue.check_definition, with SmartBot's own variables as they stand
now), so the API cannot store a command the executor would refuse; a refusal for safety (a wrapper
or interpreter program, a secret variable) is audited. Commands from smartbot.toml (source
"config") and the starter commands that come with SmartBot (source "default") are read-only here.
Approving only records the decision: the run happens on the worker pool, never in this request.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row
from flask import Blueprint, request

from .. import audit
from ..executor import approvals, catalogue
from ..executor.catalogue import DefinitionError
from ..executor.environment import OwnVariables, own_variables
from ..handlers.approval_flow import APPROVAL, settle
from ..models import Command
from .context import ApiContext, ApiError
from .registry import route
from .schema import Bool, Int, List, Num, Obj, Str

bp = Blueprint("api_commands", __name__)
_commands = Command.__table__

FIELDS = {
    "name": Str(required=True, max_length=48, pattern=catalogue.NAME.pattern.strip("^$"),
                description="lower-case letters, digits, _ and -"),
    "description": Str(max_length=500),
    "argv": List(required=True, item=Str(min_length=1, max_length=1000), max_items=100,
                 description="the program, then its arguments; {param} as a whole element inserts a parameter"),
    "params": List(item=Obj(), max_items=20, description="typed parameters: enum, int, regex, path "
                   "(\"secret\": true masks a value in the audit log and the stored output)"),
    "permission": Str(max_length=100, description="defaults to command:run:<name>"),
    "timeout": Num(minimum=0.1, maximum=catalogue.MAX_TIMEOUT),
    "output_cap": Int(minimum=64, maximum=catalogue.MAX_OUTPUT_CAP),
    "workdir": Str(max_length=500),
    "env": List(item=Str(max_length=64), max_items=50, description="environment variables passed through "
                "(never SmartBot's own: SMARTBOT_*, DATABASE_URL, channel and provider secrets)"),
    "needs_approval": Bool(),
    "enabled": Bool(),
}


def _refused(ctx: ApiContext, name: Any, exc: DefinitionError) -> ApiError:
    """422 naming the field; a refusal for safety (it would run code or hand over a secret) is audited."""
    if exc.unsafe:
        with ctx.runtime.db.write() as conn:
            audit.record(conn, "command.definition_refused", ctx.actor, f"command:{str(name)[:48]}", "denied",
                         {"field": exc.field, "reason": exc.reason})
    return ApiError(422, exc.reason, exc.field)


def _stored(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(sa.select(_commands).where(_commands.c.name == name)).first()
    if row is None:
        raise ApiError(404, f"there is no command {name!r}")
    return row


def _writable(row: Row[Any]) -> None:
    if row.source == "config":
        raise ApiError(409, f"command {row.name!r} comes from smartbot.toml; change it there")
    if row.source == "default":
        raise ApiError(409, f"command {row.name!r} is a starter command that comes with SmartBot and is "
                            "read-only; create a command under another name to run something else")


def _as_dict(row: Row[Any], own: OwnVariables) -> dict[str, Any]:
    try:
        return catalogue.spec_from_row(row, own).to_dict()
    except DefinitionError as exc:   # stored before a check existed (or by hand): shown, never run
        return {"name": row.name, "argv": row.argv, "env": row.env, "source": row.source, "enabled": False,
                "problem": f"{exc.field}: {exc.reason}"}


def listing(ctx: ApiContext) -> list[dict[str, Any]]:
    with ctx.runtime.db.read() as conn:
        own = own_variables(ctx.runtime.settings, conn)
        rows = conn.execute(sa.select(_commands).order_by(_commands.c.name)).all()
    return [_as_dict(r, own) for r in rows]


@route(bp, "/commands", "GET", summary="The command catalogue", permission="admin:commands", tag="commands")
def list_commands(ctx: ApiContext):
    return {"commands": listing(ctx)}


@route(bp, "/commands/<name>", "GET", summary="One catalogue command", permission="admin:commands", tag="commands")
def get_command(ctx: ApiContext, name: str):
    with ctx.runtime.db.read() as conn:
        return _as_dict(_stored(conn, name), own_variables(ctx.runtime.settings, conn))


@route(bp, "/commands", "POST", summary="Add a command to the catalogue", permission="admin:commands",
       tag="commands", body=FIELDS)
def create_command(ctx: ApiContext):
    return create(ctx, ctx.body), 201


def create(ctx: ApiContext, body: dict[str, Any]) -> dict[str, Any]:
    try:
        with ctx.runtime.db.write() as conn:
            spec = catalogue.check_definition({**body, "source": "db"}, own_variables(ctx.runtime.settings, conn))
            if conn.execute(sa.select(_commands.c.id).where(_commands.c.name == spec.name)).first():
                raise ApiError(409, f"a command named {spec.name!r} exists", "name")
            conn.execute(sa.insert(_commands).values(name=spec.name, **catalogue.row_values(spec)))
            ctx.record_change(conn, "command.created", f"command:{spec.name}", None, spec.to_dict())
    except DefinitionError as exc:
        raise _refused(ctx, body.get("name"), exc) from None
    return spec.to_dict()


@route(bp, "/commands/<name>", "PATCH", summary="Change a catalogue command", permission="admin:commands",
       tag="commands", body=FIELDS, partial=True)
def update_command(ctx: ApiContext, name: str):
    return update(ctx, name, ctx.body)


def update(ctx: ApiContext, name: str, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("name", name) != name:
        raise ApiError(422, "a command cannot be renamed; create a new one", "name")
    try:
        with ctx.runtime.db.write() as conn:
            row = _stored(conn, name)
            _writable(row)
            own = own_variables(ctx.runtime.settings, conn)
            before = _as_dict(row, own)
            merged = {**{k: getattr(row, k) for k in FIELDS}, **body, "source": row.source}
            spec = catalogue.check_definition(merged, own)
            conn.execute(sa.update(_commands).where(_commands.c.name == name).values(**catalogue.row_values(spec)))
            ctx.record_change(conn, "command.updated", f"command:{name}", before, spec.to_dict())
    except DefinitionError as exc:
        raise _refused(ctx, name, exc) from None
    return spec.to_dict()


@route(bp, "/commands/<name>", "DELETE", summary="Remove a catalogue command", permission="admin:commands",
       tag="commands")
def delete_command(ctx: ApiContext, name: str):
    remove(ctx, name)
    return {"deleted": name}


def remove(ctx: ApiContext, name: str) -> None:
    with ctx.runtime.db.write() as conn:
        row = _stored(conn, name)
        _writable(row)
        before = _as_dict(row, own_variables(ctx.runtime.settings, conn))
        conn.execute(sa.delete(_commands).where(_commands.c.name == name))
        ctx.record_change(conn, "command.deleted", f"command:{name}", before, None)


@route(bp, "/approvals", "GET", summary="Approval requests, newest first", permission="approval:decide",
       tag="approvals", query={"status": f"one of {', '.join(approvals.STATUSES)}"})
def list_approvals(ctx: ApiContext):
    status = request.args.get("status") or None
    if status is not None and status not in approvals.STATUSES:
        raise ApiError(422, f"must be one of {', '.join(approvals.STATUSES)}", "status")
    with ctx.runtime.db.read() as conn:
        return {"approvals": approvals.listing(conn, status)}


def decide(ctx: ApiContext, approval_id: int, approve: bool) -> dict[str, Any]:
    runtime = ctx.runtime
    settled = settle(runtime.approvals.ctx, ctx.principal, approval_id, approve, "approved through the API")
    if settled.outcome == "not_found":
        raise ApiError(404, f"there is no request #{approval_id}")
    if settled.outcome == "own":
        raise ApiError(403, "the requester cannot decide their own request")
    if settled.outcome == "already":
        raise ApiError(409, f"request #{approval_id} is already {settled.status}")
    if approve:
        runtime.dispatch.soon(APPROVAL, approval_id)     # never run inside the request
    with runtime.db.read() as conn:
        return approvals.as_dict(approvals.get(conn, approval_id))


@route(bp, "/approvals/<int:approval_id>/approve", "POST", summary="Approve a pending request (it then runs on "
       "the worker pool)", permission="approval:decide", tag="approvals")
def approve(ctx: ApiContext, approval_id: int):
    return decide(ctx, approval_id, True)


@route(bp, "/approvals/<int:approval_id>/deny", "POST", summary="Deny a pending request",
       permission="approval:decide", tag="approvals")
def deny(ctx: ApiContext, approval_id: int):
    return decide(ctx, approval_id, False)
