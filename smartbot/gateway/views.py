"""`/webhooks/<channel>`: the gateway's one HTTP route, answered two ways with the same answers.

- `WebhookRoute`, WSGI middleware (`[server] fast_webhook_route`, on by default): a POST with a
  Content-Length to a plain channel name is answered here, before Flask builds a request context.
  Webhooks are the one route every platform event takes, and they need nothing Flask gives a page
  (no session, no URL building, no templates), while Flask's request context, URL matching and
  response finalisation cost a large part of a webhook's CPU (docs/performance.md).
- `bp`, the Flask blueprint: everything else on the route (GET handshakes, chunked bodies, odd
  channel names), and every webhook when the fast route is off.

Both call `answer`, and both give the same status, body and headers: the fast route adds the
security headers (web_security.HEADERS), the request-id header and the request metrics that Flask's
side gets from `web_security.finish` and `RequestTracking`. Neither ever answers with a traceback.
"""
from __future__ import annotations

import logging
import re
from http import HTTPStatus
from typing import Any, Callable, Iterable
from urllib.parse import parse_qsl

from flask import Blueprint, request
from werkzeug.exceptions import RequestEntityTooLarge
from werkzeug.wsgi import get_input_stream

from ..telemetry import request_ids
from ..channels.base import Headers, WebRequest, WebResponse
from ..errors import ChannelNotConfigured, PayloadError
from ..httputil import TOO_DEEP
from ..telemetry import request_tracking
from ..web.context import current_runtime, to_flask_response
from ..web.security import HEADERS

log = logging.getLogger(__name__)

ROUTE = "/webhooks/<channel>"
_PREFIX = "/webhooks/"
_CHANNEL_NAME = re.compile(r"[A-Za-z0-9_-]{1,64}\Z")

bp = Blueprint("gateway", __name__)


@bp.route(ROUTE, methods=["GET", "POST"])
def webhook(channel: str):
    """The route through Flask; its error handlers and `web_security.finish` do the rest."""
    return to_flask_response(answer(current_runtime(), channel, request.environ))


def answer(runtime: Any, channel: str, environ: dict) -> WebResponse:
    """Verify, store and acknowledge one webhook request given as a WSGI environ (both routes)."""
    req = WebRequest(method=environ["REQUEST_METHOD"], path=_wsgi_text(environ.get("PATH_INFO", "")),
                     headers=Headers.from_environ(environ), body=b"", args=_query_args(environ),
                     remote_addr=environ.get("REMOTE_ADDR") or "")
    connect_mode = runtime.connections.webhook_refusal(channel)
    if connect_mode:
        return runtime.ingest.refuse(channel, req, ChannelNotConfigured(connect_mode))
    limit = runtime.settings.max_body_bytes
    try:
        body: bytes | None = _read_at_most(get_input_stream(environ, max_content_length=limit), limit + 1)
    except RequestEntityTooLarge:
        body = None
    if body is None or len(body) > limit:
        return runtime.ingest.refuse(channel, req, PayloadError(f"body larger than {limit} bytes", status=413))
    req.body = body
    return runtime.ingest.handle(channel, req)


def _read_at_most(stream: Any, size: int) -> bytes:
    """Up to `size` bytes. A chunked body has no Content-Length to refuse it by; werkzeug's stream
    for it ends quietly at the limit, so one byte past the limit is asked for to tell."""
    parts, got = [], 0
    while got < size:
        part = stream.read(size - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


class WebhookRoute:
    """WSGI middleware: the webhook route's common case, straight to `answer`; the rest to Flask."""

    def __init__(self, wsgi_app: Callable, runtime: Any) -> None:
        self.wsgi_app = wsgi_app
        self.runtime = runtime

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if (environ.get("REQUEST_METHOD") != "POST" or not path.startswith(_PREFIX)
                or not _CHANNEL_NAME.match(path, len(_PREFIX)) or not environ.get("CONTENT_LENGTH", "").isdigit()):
            return self.wsgi_app(environ, start_response)
        try:
            res = answer(self.runtime, path[len(_PREFIX):], environ)
        except RecursionError:       # bodies are depth-checked before parsing; never a 500 if one slips by
            log.warning("refused POST %s: nested too deeply to handle", path)
            res = WebResponse(400, {"error": TOO_DEEP})
        except Exception:
            log.exception("unhandled error on POST %s", path)
            res = WebResponse(500, {"error": "internal error; the details are in the server log"})
        body, content_type = res.encoded()
        headers = [("Content-Type", content_type), ("Content-Length", str(len(body))), *res.headers.items(), *HEADERS]
        request_id = request_tracking.finish(environ, ROUTE, "POST", res.status)
        if request_id:
            headers.append((request_ids.HEADER, request_id))
        start_response(f"{res.status} {_reason(res.status)}", headers)
        return [body]


def _reason(status: int) -> str:
    try:
        return HTTPStatus(status).phrase
    except ValueError:
        return "Unknown"


def _wsgi_text(value: str) -> str:
    """WSGI carries URL parts as latin-1 strings of the raw bytes; the text is their UTF-8."""
    return value.encode("latin-1").decode(errors="replace")


def _query_args(environ: dict) -> dict[str, str]:
    """The query string's parameters, the first value of each, as werkzeug's `args.to_dict()`."""
    query = environ.get("QUERY_STRING")
    if not query:
        return {}
    args: dict[str, str] = {}
    for key, value in parse_qsl(_wsgi_text(query), keep_blank_values=True, errors="werkzeug.url_quote"):
        args.setdefault(key, value)
    return args
