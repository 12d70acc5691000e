"""/healthz (the process answers), /readyz (it can do work), /metrics (Prometheus text), and the
request hooks that count every HTTP request by route and give it a request id."""
from __future__ import annotations

import time

from flask import Blueprint, Response, g, jsonify, request

from .. import request_ids
from ..web import current_runtime
from . import cluster, metrics
from .health import readiness

bp = Blueprint("ops", __name__)


@bp.before_app_request
def _start_request() -> None:
    g.smartbot_started = time.perf_counter()
    g.smartbot_request_id = request_ids.from_header(request.headers.get(request_ids.HEADER))
    g.smartbot_request_token = request_ids.bind(g.smartbot_request_id)


@bp.after_app_request
def _finish_request(response: Response) -> Response:
    started = g.pop("smartbot_started", None)
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        metrics.count("http_requests_total", route=route, method=request.method, status=str(response.status_code))
        metrics.observe("http_request_seconds", time.perf_counter() - started, route=route)
    request_id = g.get("smartbot_request_id")
    if request_id:
        response.headers[request_ids.HEADER] = request_id
    return response


@bp.teardown_app_request
def _forget_request_id(exc: BaseException | None) -> None:
    token = g.pop("smartbot_request_token", None)
    if token is not None:
        request_ids.unbind(token)


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
