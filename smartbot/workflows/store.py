"""Reading and writing workflows, runs and step states. Every write runs inside the caller's
transaction; claims and lease changes are conditional UPDATEs, so two workers never both win."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..storage.tables import Workflow, WorkflowRun, WorkflowStep

QUEUED, RUNNING, SUCCEEDED, FAILED, STOPPED = "queued", "running", "succeeded", "failed", "stopped"
RUN_STATUSES = (QUEUED, RUNNING, SUCCEEDED, FAILED, STOPPED)
PENDING, SKIPPED = "pending", "skipped"
STEP_STATUSES = (PENDING, RUNNING, SUCCEEDED, FAILED, SKIPPED)
TRIGGERS = ("chat", "api", "schedule")

_workflows, _runs, _steps = Workflow.__table__, WorkflowRun.__table__, WorkflowStep.__table__


# -- workflows --------------------------------------------------------------------------------
def get_workflow(conn: Connection, name: str) -> Row[Any] | None:
    return conn.execute(sa.select(_workflows).where(_workflows.c.name == name)).first()


def all_workflows(conn: Connection) -> list[Any]:
    return conn.execute(sa.select(_workflows).order_by(_workflows.c.name)).all()


def save_workflow(conn: Connection, name: str, description: str, source: str, enabled: bool) -> None:
    now = time.time()
    values = {"description": description, "source": source, "enabled": enabled, "updated_at": now}
    if conn.execute(sa.update(_workflows).where(_workflows.c.name == name).values(**values)).rowcount == 0:
        conn.execute(sa.insert(_workflows).values(name=name, created_at=now, **values))


def delete_workflow(conn: Connection, name: str) -> bool:
    return conn.execute(sa.delete(_workflows).where(_workflows.c.name == name)).rowcount == 1


def workflow_dict(row: Row[Any]) -> dict[str, Any]:
    return {"name": row.name, "description": row.description, "enabled": bool(row.enabled), "yaml": row.source,
            "created_at": row.created_at, "updated_at": row.updated_at}


# -- runs ---------------------------------------------------------------------------------------
def create_run(conn: Connection, *, workflow: str, source: str, step_names: list[tuple[str, str]],
               request_key: str, trigger: str, triggered_by: str, user_id: int | None, channel: str = "",
               chat_id: str = "", reply_context: dict | None = None, reply_to: str = "",
               args: dict | None = None, locale: str = "") -> tuple[int, bool]:
    """Store a queued run and its pending steps, once per request key; (run id, created now)."""
    existing = conn.execute(sa.select(_runs.c.id).where(_runs.c.request_key == request_key)).scalar()
    if existing is not None:
        return int(existing), False
    run_id = conn.execute(sa.insert(_runs).values(
        workflow=workflow, source=source, request_key=request_key, trigger=trigger, triggered_by=triggered_by,
        user_id=user_id, channel=channel, chat_id=chat_id, reply_context=reply_context or {}, reply_to=reply_to,
        locale=locale or None, args=args or {}, status=QUEUED, error="", owner=None, lease_until=0.0, created_at=time.time(),
    ).returning(_runs.c.id)).scalar()
    conn.execute(sa.insert(_steps), [{"run_id": run_id, "position": i, "name": name, "kind": kind, "status": PENDING,
                                      "attempts": 0, "output": "", "error": ""}
                                     for i, (name, kind) in enumerate(step_names)])
    return int(run_id), True


def get_run(conn: Connection, run_id: int) -> Row[Any] | None:
    return conn.execute(sa.select(_runs).where(_runs.c.id == run_id)).first()


def steps_of(conn: Connection, run_id: int) -> list[Any]:
    return conn.execute(sa.select(_steps).where(_steps.c.run_id == run_id).order_by(_steps.c.position)).all()


def claim(conn: Connection, run_id: int, owner: str, until: float) -> bool:
    """Take a queued run to work on it; False when someone else has it (or it is finished)."""
    now = time.time()
    return conn.execute(sa.update(_runs).where(_runs.c.id == run_id, _runs.c.status == QUEUED).values(
        status=RUNNING, owner=owner, lease_until=until,
        started_at=sa.func.coalesce(_runs.c.started_at, now))).rowcount == 1


def renew(conn: Connection, owner: str, until: float, run_ids: list[int]) -> int:
    """Extend the leases of the runs this owner is working now (not of runs it dropped)."""
    return conn.execute(sa.update(_runs).where(_runs.c.owner == owner, _runs.c.status == RUNNING,
                                               _runs.c.id.in_(run_ids)).values(lease_until=until)).rowcount


def still_ours(conn: Connection, run_id: int, owner: str) -> bool:
    return conn.execute(sa.select(_runs.c.id).where(_runs.c.id == run_id, _runs.c.owner == owner,
                                                    _runs.c.status == RUNNING)).first() is not None


def finish(conn: Connection, run_id: int, owner: str, status: str, error: str = "") -> bool:
    return conn.execute(sa.update(_runs).where(_runs.c.id == run_id, _runs.c.owner == owner,
                                               _runs.c.status == RUNNING).values(
        status=status, error=error[:500], owner=None, finished_at=time.time())).rowcount == 1


def stale_running(conn: Connection, now: float) -> list[Any]:
    """Every running run with its owner and lease (the caller decides which owners are gone)."""
    return conn.execute(sa.select(_runs.c.id, _runs.c.owner, _runs.c.lease_until)
                        .where(_runs.c.status == RUNNING)).all()


def requeue(conn: Connection, run_id: int, old_owner: str | None) -> bool:
    """Hand a run whose owner is gone back to the queue, to be claimed (and resumed) again."""
    return conn.execute(sa.update(_runs).where(_runs.c.id == run_id, _runs.c.status == RUNNING,
                                               _runs.c.owner == old_owner)
                        .values(status=QUEUED, owner=None, lease_until=0.0)).rowcount == 1


def queued_older_than(conn: Connection, before: float, limit: int = 100) -> list[int]:
    return [r[0] for r in conn.execute(sa.select(_runs.c.id).where(_runs.c.status == QUEUED,
                                                                   _runs.c.created_at <= before)
                                       .order_by(_runs.c.id).limit(limit)).all()]


def purge_finished(conn: Connection, before: float) -> int:
    """Delete runs that ended before `before`, with their step states; how many runs."""
    ended = sa.select(_runs.c.id).where(_runs.c.status.in_((SUCCEEDED, FAILED, STOPPED)),
                                        _runs.c.finished_at < before)
    conn.execute(sa.delete(_steps).where(_steps.c.run_id.in_(ended)))
    return conn.execute(sa.delete(_runs).where(_runs.c.id.in_(ended.scalar_subquery()))).rowcount


def list_runs(conn: Connection, workflow: str | None = None, status: str | None = None,
              limit: int = 50) -> list[Any]:
    query = sa.select(_runs).order_by(_runs.c.id.desc()).limit(limit)
    if workflow:
        query = query.where(_runs.c.workflow == workflow)
    if status:
        query = query.where(_runs.c.status == status)
    return conn.execute(query).all()


def run_dict(row: Row[Any], steps: list[Row[Any]] | None = None) -> dict[str, Any]:
    out = {"id": row.id, "workflow": row.workflow, "trigger": row.trigger, "triggered_by": row.triggered_by,
           "chat": f"{row.channel}:{row.chat_id}" if row.channel else "", "args": row.args or {},
           "status": row.status, "error": row.error, "created_at": row.created_at, "started_at": row.started_at,
           "finished_at": row.finished_at}
    if steps is not None:
        out["steps"] = [{"position": s.position, "name": s.name, "kind": s.kind, "status": s.status,
                         "attempts": s.attempts, "output": s.output, "error": s.error, "started_at": s.started_at,
                         "finished_at": s.finished_at} for s in steps]
    return out


# -- step states ----------------------------------------------------------------------------
def step_started(conn: Connection, run_id: int, position: int) -> None:
    conn.execute(sa.update(_steps).where(_steps.c.run_id == run_id, _steps.c.position == position).values(
        status=RUNNING, attempts=_steps.c.attempts + 1, started_at=time.time(), error=""))


def step_finished(conn: Connection, run_id: int, position: int, status: str, output: str = "",
                  error: str = "") -> None:
    conn.execute(sa.update(_steps).where(_steps.c.run_id == run_id, _steps.c.position == position).values(
        status=status, output=output, error=error[:500], finished_at=time.time()))


def skip_rest(conn: Connection, run_id: int, after: int) -> None:
    conn.execute(sa.update(_steps).where(_steps.c.run_id == run_id, _steps.c.position > after,
                                         _steps.c.status == PENDING).values(status=SKIPPED))
