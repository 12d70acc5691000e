"""/healthz (the process answers, for everyone), /readyz (this node can serve: everyone learns ready
or not, only those ops/access.py lets in learn the details), /metrics (Prometheus text, the models'
state included, only for those), and what counts every HTTP request by route and gives it a
request id."""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from ..telemetry import request_ids
from ..web.context import current_runtime, json_error
from ..web.session import AccessRefused, require
from . import cluster, model_state
from ..telemetry import metrics, request_tracking
from .access import ALLOWED, Verdict
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
    runtime = current_runtime()
    ready, checks = readiness(runtime)
    status, code = ("ready", 200) if ready else ("not ready", 503)
    verdict = _verdict(runtime)
    if not verdict.allowed:
        if verdict.status == 401:           # a wrong token is an attempt; no token is a health check
            _audit(verdict)
        return jsonify(status=status), code
    return jsonify(status=status, checks=checks), code


@bp.get("/metrics")
def metrics_text():
    runtime = current_runtime()
    verdict = _verdict(runtime)
    if not verdict.allowed:
        _audit(verdict)
        refused = json_error(verdict.status, verdict.reason)
        if verdict.status == 401:
            refused.headers["WWW-Authenticate"] = 'Bearer realm="smartbot-metrics"'
        return refused
    runtime.ops.sample()
    gauges = cluster.gauges(cluster.read(runtime.db, list(runtime.channels)))
    model_state.add_gauges(gauges, model_state.read(runtime))
    return Response(metrics.render(gauges), content_type=metrics.CONTENT_TYPE)


def _verdict(runtime: Any) -> Verdict:
    return current_app.extensions["smartbot_ops_access"].decide(
        request.remote_addr, request.headers.get("Authorization", ""), lambda: _admin_token(runtime))


def _admin_token(runtime: Any) -> Verdict | None:
    """The bearer token as an admin API token: ALLOWED with admin:metrics, refused (403, audited
    by the token check) without it, None when it is not a valid admin token at all."""
    try:
        require(runtime, "admin:metrics", locations=["headers"])
    except AccessRefused as exc:
        return Verdict(False, 403, exc.reason, "permission") if exc.status == 403 else None
    return ALLOWED


def _audit(verdict: Verdict) -> None:
    current_app.extensions["smartbot_refusals"].record(
        "metrics.refused", request.remote_addr or "", request.path, verdict.reason_key,
        {"status": verdict.status, "reason": verdict.reason})
