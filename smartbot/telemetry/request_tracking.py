"""Every HTTP request's id, count and duration, for Flask's routes and the webhook route alike."""
from __future__ import annotations

import time
from typing import Any, Callable

from . import metrics, request_ids

_STARTED, _REQUEST_ID = "smartbot.started", "smartbot.request_id"
_ID_ENVIRON = "HTTP_" + request_ids.HEADER.upper().replace("-", "_")


class RequestTracking:
    """WSGI middleware, outermost: gives each request its id before anything else sees it, and
    forgets it once the response is built. (Flask's before/teardown hooks did the same at a
    noticeable share of a webhook's CPU: each goes through Flask's context-local proxies.)"""

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


def finish(environ: dict, route: str, method: str, status: int) -> str:
    """Count the answered request by route and status; returns its id for the response header."""
    started = environ.get(_STARTED)
    if started is not None:
        metrics.count("http_requests_total", route=route, method=method, status=str(status))
        metrics.observe("http_request_seconds", time.perf_counter() - started, route=route)
    return environ.get(_REQUEST_ID) or ""
