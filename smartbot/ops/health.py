"""Readiness checks: can this process take and finish work right now?

Ready means: the database answers at the schema the code expects, this process's workers run, and
when model providers are configured at least one of them is reachable (the cached probe, never a
model call). Queue, channel and alert facts are reported alongside but do not make it unready.
"""
from __future__ import annotations

import logging
import time
from typing import Any

import sqlalchemy as sa

from ..storage.db import head_revision
from . import cluster

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
        view = cluster.read(runtime.db, list(runtime.channels))
    except Exception as exc:  # any driver error means not ready; never a 500
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        return False, checks
    checks["queue"] = {"ok": True, "inbox": view.inbox["depth"],
                       "inbox_oldest_seconds": round(view.inbox["oldest_age"], 3),
                       "outbox": view.outbox["depth"], "outbox_oldest_seconds": round(view.outbox["oldest_age"], 3),
                       "outbox_failed": view.outbox["failed"]}
    workers = runtime.runner.stats()
    checks["workers"] = {"ok": runtime.runner_alive(), **workers}
    ready &= checks["workers"]["ok"]
    checks["models"] = _models(runtime)
    ready &= checks["models"]["ok"]
    checks["channels"] = {name: {"last_received_seconds": _round(view.received_age.get(name)),
                                 "last_delivered_seconds": _round(view.delivered_age.get(name))}
                          for name in sorted(set(runtime.channels) | set(view.received_age))}
    checks["alerts"] = {"ok": True, "firing": runtime.alerts.firing()}
    return ready, checks


def _models(runtime: Any) -> dict[str, Any]:
    chain = runtime.providers.chain()
    if not chain:
        return {"ok": True, "configured": [], "note": "no model provider configured; builtins still answer"}
    probes = runtime.probe.status()
    reachable = {name: {"ok": r.ok, "reason": r.reason, "checked_seconds_ago": round(time.time() - r.checked_at, 1)}
                 for name, r in probes.items()}
    open_circuits = sorted(name for name, st in runtime.models.states().items() if st.state != "closed")
    return {"ok": any(r.ok for r in probes.values()), "configured": [spec.name for spec in chain],
            "reachable": reachable, "open_circuits": open_circuits}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
