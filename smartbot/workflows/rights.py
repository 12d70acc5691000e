"""What a workflow manager may hand to a workflow or a schedule, by the delegation rule of
auth/delegation.py: a workflow may hold only commands (and MCP tools) its author may run, and a schedule runs as
its creator, or as a named owner whose every right the creator holds; either way that user must
hold `workflow:run:<name>` in the schedule's chat.

Whoever edits a workflow decides what every later run of it does, whoever it runs as; so the
check is on the definition being saved, not only on the run. Nothing here ever lets a schedule run
as someone its creator does not cover.
"""
from __future__ import annotations

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..auth import delegation, rbac
from ..auth.delegation import DelegationDenied
from ..auth.rbac import Grant, Principal
from ..executor import catalogue
from ..mcp.tools import permission as permission_of_tool
from ..storage.tables import User
from .definition import Definition

_users = User.__table__


def command_permission(conn: Connection, name: str) -> str:
    """The permission a command step asks for when it runs (as `/run` would)."""
    if not catalogue.NAME.match(name):
        return f"command:run:{name}"
    try:
        spec = catalogue.get(conn, name)
    except catalogue.DefinitionError:       # an unsafe stored command never runs; its own name then
        spec = None
    return spec.required_permission if spec is not None else f"command:run:{name}"


def require_steps_held(conn: Connection, author: Principal, definition: Definition) -> None:
    """The author of a workflow must be allowed, in every chat, each command its steps run."""
    for step in definition.steps:
        if step.kind == "command":
            name = step.params["command"]
            permission = command_permission(conn, name)
            delegation.require_cover(author, [Grant(permission, "")],
                                     f"put the command {name!r} in the workflow {definition.name!r}",
                                     f"workflow:{definition.name}")
        elif step.kind == "mcp":
            server, tool = step.params["server"], step.params["tool"]
            delegation.require_cover(author, [Grant(permission_of_tool(server, tool), "")],
                                     f"put the MCP tool {server}/{tool} in the workflow {definition.name!r}",
                                     f"workflow:{definition.name}")


def require_change(conn: Connection, caller: Principal, owner_user_id: int, target: str) -> None:
    """Changing a schedule decides what runs as its owner, and where the output goes: only the
    owner, or a caller who holds every right the owner holds, may change it."""
    if owner_user_id != caller.user_id:
        delegation.require_cover(caller, delegation.grants_of_user(conn, owner_user_id),
                                 f"change the {target.replace(':', ' #')}, which runs as another user", target)


def require_run_as(conn: Connection, creator: Principal, owner_user_id: int, workflow: str, chat_key: str,
                   target: str, enabled: bool = True) -> Principal:
    """Who the schedule will run as (with their rights now), if the creator may make it so and, for
    an enabled schedule, that user may run the workflow in the schedule's chat (a disabled one may
    be saved, and is checked again when enabled and at every firing); DelegationDenied otherwise."""
    permission = f"workflow:run:{workflow}"
    name = conn.execute(sa.select(_users.c.name).where(_users.c.id == owner_user_id)).scalar()
    if name is None:
        raise DelegationDenied(permission, "the user the schedule would run as no longer exists", target)
    run_as = delegation.as_now(conn, Principal(str(name), (), (), user_id=owner_user_id))
    if owner_user_id != creator.user_id:
        delegation.require_cover(creator, delegation.grants_of_user(conn, owner_user_id),
                                 f"schedule a workflow to run as the user {run_as.name!r}", target)
    decision = rbac.check(run_as, permission, chat_key)
    if enabled and not decision.allowed:
        raise DelegationDenied(permission, f"the schedule would run as {run_as.name!r}, who may not run it: "
                                           f"{decision.reason}", target)
    return run_as
