"""/healthz (the process answers), /readyz (it can do work), /metrics (Prometheus text), and what
counts every HTTP request by route and gives it a request id."""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from .. import request_ids
from ..web import current_runtime
from . import cluster, metrics, request_tracking
from .health import readiness

bp = Blueprint("ops", __name__)


@bp.after_app_request
def _finish_request(response: Response) -> Response:
    """Count the request by route and status, and echo its id."""
    route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
    request_id = request_tracking.finish(request.environ, route, request.method, response.status_code)
    if request_id:
        response.headers[request_ids.HEADER] = request_id
    return response


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
    runtime.ops.sample()
    view = cluster.read(runtime.db, list(runtime.channels))
    return Response(metrics.render(cluster.gauges(view)), content_type=metrics.CONTENT_TYPE)
