"""The command catalogue and approval decisions, for the admin API and the admin page alike.

A definition is checked by the same code that checks [[commands]] in the file and every stored row
before it runs (executor.catalogue.check_definition, with SmartBot's own variables as they stand
now), so no admin can store a command the executor would refuse; a refusal for safety (a wrapper
or interpreter program, a secret variable) is audited. Commands from smartbot.toml (source
"config") and the starter commands that come with SmartBot (source "default") are read-only here.
Approving only records the decision: the run happens on the worker pool, never in the request.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .. import audit
from ..auth.rbac import Principal
from ..executor import approvals, catalogue
from ..executor.catalogue import DefinitionError
from ..executor.environment import OwnVariables, own_variables
from ..i18n.reasons import reason
from ..pipeline.handlers.approval_flow import APPROVAL, settle
from ..storage.tables import Command
from . import changes
from .errors import Conflict, Forbidden, Invalid, NotFound
from .fields import Bool, Int, List, Num, Obj, Str

_commands = Command.__table__
STARTER_SOURCE = "default"          # the starter commands that come with SmartBot

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


def _refused(db: Any, caller: Principal, name: Any, exc: DefinitionError) -> Invalid:
    """422 naming the field; a refusal for safety (it would run code or hand over a secret) is audited."""
    if exc.unsafe:
        with db.write() as conn:
            audit.record(conn, "command.definition_refused", changes.actor_of(caller), f"command:{str(name)[:48]}",
                         "denied", {"field": exc.field, "reason": exc.reason})
    return Invalid(exc.reason, exc.field)


def _stored(conn: Connection, name: str) -> Row[Any]:
    row = conn.execute(sa.select(_commands).where(_commands.c.name == name)).first()
    if row is None:
        raise NotFound(reason("reason.command.missing", name=repr(name)))
    return row


def _writable(row: Row[Any]) -> None:
    if row.source == "config":
        raise Conflict(reason("reason.command.from_config", name=repr(row.name)))
    if row.source == STARTER_SOURCE:
        raise Conflict(reason("reason.command.starter", name=repr(row.name)))


def _as_dict(row: Row[Any], own: OwnVariables) -> dict[str, Any]:
    try:
        return catalogue.spec_from_row(row, own).to_dict()
    except DefinitionError as exc:   # stored before a check existed (or by hand): shown, never run
        return {"name": row.name, "argv": row.argv, "env": row.env, "source": row.source, "enabled": False,
                "problem": f"{exc.field}: {exc.reason}"}


def listing(runtime: Any) -> list[dict[str, Any]]:
    with runtime.db.read() as conn:
        own = own_variables(runtime.settings, conn)
        rows = conn.execute(sa.select(_commands).order_by(_commands.c.name)).all()
    return [_as_dict(r, own) for r in rows]


def get(runtime: Any, name: str) -> dict[str, Any]:
    with runtime.db.read() as conn:
        return _as_dict(_stored(conn, name), own_variables(runtime.settings, conn))


def create(runtime: Any, caller: Principal, body: dict[str, Any]) -> dict[str, Any]:
    try:
        with runtime.db.write() as conn:
            spec = catalogue.check_definition({**body, "source": "db"}, own_variables(runtime.settings, conn))
            if conn.execute(sa.select(_commands.c.id).where(_commands.c.name == spec.name)).first():
                raise Conflict(reason("reason.command.exists", name=repr(spec.name)), "name")
            conn.execute(sa.insert(_commands).values(name=spec.name, **catalogue.row_values(spec)))
            changes.record(conn, changes.actor_of(caller), "command.created", f"command:{spec.name}", None,
                           spec.to_dict())
    except DefinitionError as exc:
        raise _refused(runtime.db, caller, body.get("name"), exc) from None
    return spec.to_dict()


def update(runtime: Any, caller: Principal, name: str, body: dict[str, Any]) -> dict[str, Any]:
    if body.get("name", name) != name:
        raise Invalid(reason("reason.command.rename"), "name")
    try:
        with runtime.db.write() as conn:
            row = _stored(conn, name)
            _writable(row)
            own = own_variables(runtime.settings, conn)
            before = _as_dict(row, own)
            merged = {**{k: getattr(row, k) for k in FIELDS}, **body, "source": row.source}
            spec = catalogue.check_definition(merged, own)
            conn.execute(sa.update(_commands).where(_commands.c.name == name).values(**catalogue.row_values(spec)))
            changes.record(conn, changes.actor_of(caller), "command.updated", f"command:{name}", before,
                           spec.to_dict())
    except DefinitionError as exc:
        raise _refused(runtime.db, caller, name, exc) from None
    return spec.to_dict()


def remove(runtime: Any, caller: Principal, name: str) -> None:
    with runtime.db.write() as conn:
        row = _stored(conn, name)
        _writable(row)
        before = _as_dict(row, own_variables(runtime.settings, conn))
        conn.execute(sa.delete(_commands).where(_commands.c.name == name))
        changes.record(conn, changes.actor_of(caller), "command.deleted", f"command:{name}", before, None)


def approval_listing(db: Any, status: str | None = None, limit: int = 100) -> list[dict[str, Any]]:
    """Approval requests, newest first; only those with `status` when it is given."""
    if status is not None and status not in approvals.STATUSES:
        raise Invalid(reason("reason.field.one_of", choices=', '.join(approvals.STATUSES)), "status")
    with db.read() as conn:
        return approvals.listing(conn, status, limit)


def decide(runtime: Any, caller: Principal, approval_id: int, approve: bool) -> dict[str, Any]:
    """Approve or deny a pending request (the first decider wins; nobody decides their own); an
    approved one is handed to the worker pool."""
    settled = settle(runtime.approvals.ctx, caller, approval_id, approve, "approved through the API")
    if settled.outcome == "not_found":
        raise NotFound(reason("reason.approval.missing", id=approval_id))
    if settled.outcome == "own":
        raise Forbidden(reason("reason.approval.own"))
    if settled.outcome == "already":
        status = reason(f"admin.status.{settled.status}")
        raise Conflict(reason("reason.approval.settled", id=approval_id, status=status))
    if approve:
        runtime.dispatch.soon(APPROVAL, approval_id)     # never run inside the request
    with runtime.db.read() as conn:
        return approvals.as_dict(approvals.get(conn, approval_id))
