"""The worker pool's side of workflows, the same for every job backend: run a run, renew the
leases of the runs this process works, hand back runs whose owner died, fire due schedules.

`dispatch(kind, ids, delay)` gives runs (and the replies they queue) to whichever backend this
process uses (the local pool, which on a web node of a Celery cluster is idle; then workers'
sweeps find queued runs within a sweep).
"""
from __future__ import annotations

import logging
import time
from typing import Any

from ..pipeline.handlers.base import HandlerContext
from ..storage.liveness import owner_is_dead
from ..jobs.local import Dispatch
from . import schedules, store
from .engine import WorkflowEngine
from .runs import WORKFLOW

__all__ = ["WORKFLOW", "WorkflowJobs"]

log = logging.getLogger(__name__)


class WorkflowJobs:
    def __init__(self, ctx: HandlerContext, channels: dict[str, Any], owner: str, lease_seconds: float,
                 dispatch: Dispatch) -> None:
        self.ctx = ctx
        self.owner = owner
        self.lease_seconds = lease_seconds
        self.dispatch = dispatch
        self.engine = WorkflowEngine(ctx, channels, owner, lease_seconds, dispatch)

    def run(self, run_id: int) -> None:
        self.engine.run(run_id)

    def renew(self) -> None:
        active = sorted(self.engine.active_runs())
        if active:
            with self.ctx.db.write() as conn:
                store.renew(conn, self.owner, time.time() + self.lease_seconds, active)

    def purge(self) -> None:
        before = time.time() - self.ctx.settings.workflows.keep_days * 86400
        with self.ctx.db.write() as conn:
            purged = store.purge_finished(conn, before)
        if purged:
            log.info("purged %d finished workflow runs", purged)

    def recover(self) -> list[int]:
        """Requeue runs whose owner is gone, fire due schedules, and hand out the queued runs (a run
        handed out twice is claimed once)."""
        queued = self._sweep()
        if queued:
            self.dispatch(WORKFLOW, queued, 0.0)
        return queued

    def _sweep(self) -> list[int]:
        now = time.time()
        db = self.ctx.db
        with db.read() as conn:
            rows = store.stale_running(conn, now)
        active = self.engine.active_runs()
        stale = [r for r in rows if r.id not in active
                 and (r.lease_until < now or (r.owner and owner_is_dead(r.owner)))]
        if stale:
            with db.write() as conn:
                back = [r.id for r in stale if store.requeue(conn, r.id, r.owner)]
            if back:
                log.warning("workflow runs %s lost their worker; they resume where they stopped", back)
        schedules.fire_due(db, self.ctx.settings.workflows, now)
        with db.read() as conn:
            return store.queued_older_than(conn, time.time())
