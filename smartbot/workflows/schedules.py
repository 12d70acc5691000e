"""Cron schedules: stored rows with a next firing time, fired from the maintenance loop of every
worker process. Firing is claimed with a conditional UPDATE (`WHERE id = ? AND next_run_at =
<the time read>`), so however many nodes and workers tick at once, each firing happens once per
cluster; the run it starts has the request key `schedule:<id>:<time>` as a second guard.

A schedule runs its workflow as its owner: its creator, or a user whose every right the creator
held when saving it (workflows/rights.py). Each firing checks that owner's `workflow:run:<name>`
with their rights as they are then, and audits a refusal (the run does not happen); the run's
command steps are checked against the same user. A schedule that missed firings (everything was
down) fires once on the next tick, not once per missed minute.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..auth import identities
from ..storage.tables import Schedule, User
from . import cron
from .runs import StartRefused, Trigger, start
from .settings import WorkflowSettings

log = logging.getLogger(__name__)
_schedules, _users = Schedule.__table__, User.__table__


def next_time(expression: str, after: float) -> float:
    return cron.parse(expression).next_after(after)


def get(conn: Connection, schedule_id: int) -> Any:
    return conn.execute(sa.select(_schedules).where(_schedules.c.id == schedule_id)).first()


def all_schedules(conn: Connection, workflow: str | None = None) -> list[Any]:
    query = sa.select(_schedules).order_by(_schedules.c.id)
    if workflow:
        query = query.where(_schedules.c.workflow == workflow)
    return conn.execute(query).all()


def as_dict(row: Row[Any]) -> dict[str, Any]:
    return {"id": row.id, "workflow": row.workflow, "cron": row.cron, "owner_user_id": row.owner_user_id,
            "args": row.args or {}, "channel": row.channel, "chat_id": row.chat_id, "enabled": bool(row.enabled),
            "next_run_at": row.next_run_at, "last_run_at": row.last_run_at}


def due(conn: Connection, now: float, limit: int = 50) -> list[Any]:
    return conn.execute(sa.select(_schedules).where(_schedules.c.enabled.is_(True), _schedules.c.next_run_at <= now)
                        .order_by(_schedules.c.next_run_at).limit(limit)).all()


def fire_due(db: Any, settings: WorkflowSettings, now: float | None = None) -> list[int]:
    """Claim and fire every due schedule; returns the ids of the runs started."""
    now = time.time() if now is None else now
    with db.read() as conn:
        rows = due(conn, now)
    started: list[int] = []
    for row in rows:
        try:
            following = next_time(row.cron, now)
        except cron.CronError as exc:
            log.error("schedule %s has an invalid cron expression (%s); it is disabled", row.id, exc.reason)
            following, disable = row.next_run_at, True
        else:
            disable = False
        with db.write() as conn:
            claimed = conn.execute(sa.update(_schedules).where(
                _schedules.c.id == row.id, _schedules.c.next_run_at == row.next_run_at
            ).values(next_run_at=following, last_run_at=now, enabled=not disable)).rowcount == 1
            if not claimed or disable:
                continue
            run_id = _start(conn, settings, row)
        if run_id is not None:
            started.append(run_id)
    return started


def _start(conn: Connection, settings: WorkflowSettings, row: Row[Any]) -> int | None:
    owner = conn.execute(sa.select(_users.c.name, _users.c.is_active).where(_users.c.id == row.owner_user_id)).first()
    actor = f"schedule:{row.id}"
    if owner is None or not owner.is_active:
        log.warning("schedule %s: its owner is gone or inactive; nothing started", row.id)
        return None
    principal = identities.principal_for_user(conn, row.owner_user_id, owner.name)
    trigger = Trigger("schedule", actor, f"schedule:{row.id}:{row.next_run_at!r}", row.channel, row.chat_id)
    try:
        run_id, created = start(conn, settings, row.workflow, principal, trigger, dict(row.args or {}))
    except StartRefused as exc:       # audited by start(); the schedule still moves on
        log.warning("schedule %s did not start %s: %s", row.id, row.workflow, exc.reason)
        return None
    return run_id if created else None
