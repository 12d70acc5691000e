"""/healthz (the process answers), /readyz (it can do work), /metrics (Prometheus text)."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify

from ..gateway import inbox, outbox
from ..web import current_runtime
from . import metrics
from .health import readiness

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    ready, checks = readiness(current_runtime())
    return jsonify(status="ready" if ready else "not ready", checks=checks), (200 if ready else 503)


@bp.get("/metrics")
def metrics_text():
    runtime = current_runtime()
    in_stats, out_stats = inbox.stats(runtime.db), outbox.stats(runtime.db)
    workers = runtime.runner.stats()
    gauges = {
        "inbox_queued": in_stats["depth"].get("queued", 0),
        "inbox_leased": in_stats["depth"].get("leased", 0),
        "inbox_oldest_age_seconds": in_stats["oldest_age"],
        "outbox_queued": out_stats["depth"].get("queued", 0),
        "outbox_leased": out_stats["depth"].get("leased", 0),
        "outbox_failed": out_stats["failed"],
        "worker_threads": workers["threads"],
        "worker_busy": workers["busy"],
    }
    return Response(metrics.render(gauges), content_type="text/plain; version=0.0.4; charset=utf-8")
