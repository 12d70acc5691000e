"""/healthz (the process answers), /readyz (it can do work), /metrics (Prometheus text), and what
counts every HTTP request by route and gives it a request id."""
from __future__ import annotations

import time
from typing import Any, Callable

from flask import Blueprint, Response, jsonify, request

from .. import request_ids
from ..web import current_runtime
from . import cluster, metrics
from .health import readiness

bp = Blueprint("ops", __name__)


class RequestTracking:
    """WSGI middleware around the Flask app: gives each request its id before Flask sees it, and
    forgets it once the response is built. (Flask's before/teardown hooks did this for 20 us of
    the webhook's ~370 us of CPU: each goes through Flask's context-local proxies.)"""

    def __init__(self, wsgi_app: Callable) -> None:
        self.wsgi_app = wsgi_app

    def __call__(self, environ: dict, start_response: Callable) -> Any:
        environ[_STARTED] = time.perf_counter()
        environ[_REQUEST_ID] = request_id = request_ids.from_header(environ.get(_ID_ENVIRON))
        token = request_ids.bind(request_id)
        try:
            return self.wsgi_app(environ, start_response)
        finally:
            request_ids.unbind(token)


_STARTED, _REQUEST_ID = "smartbot.started", "smartbot.request_id"
_ID_ENVIRON = "HTTP_" + request_ids.HEADER.upper().replace("-", "_")


@bp.after_app_request
def _finish_request(response: Response) -> Response:
    """Count the request by route and status, and echo its id."""
    environ = request.environ
    started = environ.get(_STARTED)
    if started is not None:
        route = request.url_rule.rule if request.url_rule is not None else "(unmatched)"
        metrics.count("http_requests_total", route=route, method=request.method, status=str(response.status_code))
        metrics.observe("http_request_seconds", time.perf_counter() - started, route=route)
    request_id = environ.get(_REQUEST_ID)
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
