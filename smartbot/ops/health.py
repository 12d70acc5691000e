"""Readiness: can this node take and finish work right now?

Ready means: the database answers at the schema the code expects, this process's workers run (on
a web node of a Celery cluster the work is done elsewhere), and every configured channel can take
its messages here: webhook channels are wired to the webhook route, the web chat to its page.
The model providers are not part of it: with every model down the node still answers /help,
commands, approvals and the admin page, and a load balancer that took it out would take those too;
the models' state is on the dashboard, in /metrics and in alerts (ops/model_state.py). Queue and
alert facts are reported alongside but do not make a node unready.
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
    started = time.perf_counter()
    try:
        with runtime.db.read() as conn:
            conn.execute(sa.text("SELECT 1"))
        revision = runtime.db.schema_revision()
        checks["database"] = {"ok": revision == head_revision(), "revision": revision,
                              "ms": round((time.perf_counter() - started) * 1000, 2)}
        view = cluster.read(runtime.db, list(runtime.channels))
    except Exception as exc:  # any driver error means not ready; never a 500
        log.warning("readiness: database check failed: %s", type(exc).__name__)
        checks["database"] = {"ok": False, "error": type(exc).__name__}
        return False, checks
    checks["workers"] = {"ok": runtime.runner_alive(), "here": runtime.role != "web", **runtime.runner.stats()}
    checks["channels"] = _channels(runtime, view)
    checks["queue"] = {"ok": True, "inbox": view.inbox["depth"],
                       "inbox_oldest_seconds": round(view.inbox["oldest_age"], 3),
                       "outbox": view.outbox["depth"], "outbox_oldest_seconds": round(view.outbox["oldest_age"], 3),
                       "outbox_failed": view.outbox["failed"]}
    checks["alerts"] = {"ok": True, "firing": runtime.alerts.firing()}
    ready = all(checks[name]["ok"] for name in ("database", "workers", "channels"))
    return ready, checks


def _channels(runtime: Any, view: cluster.ClusterView) -> dict[str, Any]:
    """Per configured channel: whether the webhook route hands its requests to it here (a channel
    that arrives another way, the web chat, by its page; a channel in connect mode, when some process
    of the deployment holds its connection), and when it last received a message and delivered a
    reply. Next to the channels, `ok` says whether all of them take messages."""
    each: dict[str, Any] = {}
    for name, channel in sorted(runtime.channels.items()):
        connection = view.connections.get(name, {"held": False, "up": False, "state": "not held yet",
                                                 "last_event_seconds": None, "reconnects": 0})
        if name in runtime.connections.channels:
            takes, webhook = connection["held"], False
            extra = {"mode": "connect", "connected": connection["up"], "connection": connection["state"],
                     "last_event_seconds": _round(connection["last_event_seconds"]),
                     "reconnects": connection["reconnects"]}
        else:
            takes, webhook, extra = name in runtime.ingest.channels or not channel.accepts_webhooks, \
                channel.accepts_webhooks, {}
        each[name] = {"ok": takes, "webhook": webhook, **extra,
                      "last_received_seconds": _round(view.received_age.get(name)),
                      "last_delivered_seconds": _round(view.delivered_age.get(name))}
    return {"ok": all(entry["ok"] for entry in each.values()), **each}


def _round(value: float | None) -> float | None:
    return None if value is None else round(value, 1)
