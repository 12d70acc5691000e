"""Readiness checks: can this process take and finish work right now?"""
from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa

from ..db import head_revision
from ..gateway import inbox, outbox

log = logging.getLogger(__name__)


def readiness(runtime: Any) -> tuple[bool, dict[str, Any]]:
    checks: dict[str, Any] = {}
    ready = True
    started = time.perf_counter()
    try:
        with runtime.db.read() as conn:
            conn.execute(sa.text("SELECT 1"))
        revision = runtime.db.schema_revision()
        checks["database"] = {"ok": revision == head_revision(), "revision": revision,
                              "ms": round((time.perf_counter() - started) * 1000, 2)}
        ready &= checks["database"]["ok"]
    except Exception as exc:  # any driver error means not ready; never a 500
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        return False, checks
    in_stats, out_stats = inbox.stats(runtime.db), outbox.stats(runtime.db)
    checks["queue"] = {"ok": True, "inbox": in_stats["depth"], "inbox_oldest_seconds": round(in_stats["oldest_age"], 3),
                       "outbox": out_stats["depth"], "outbox_failed": out_stats["failed"]}
    workers = runtime.runner.stats()
    checks["workers"] = {"ok": runtime.runner_alive(), **workers}
    ready &= checks["workers"]["ok"]
    chain = runtime.providers.chain()
    # Informational: a provider being down is not this process being unable to work.
    open_circuits = sorted(name for name, st in runtime.models.states().items() if st.state != "closed")
    checks["models"] = {"ok": True, "configured": [spec.name for spec in chain], "open_circuits": open_circuits}
    return ready, checks
