"""`/webhooks/<channel>`: turns Flask's request into a plain WebRequest and the answer back."""
from __future__ import annotations

from flask import Blueprint, request
from werkzeug.exceptions import RequestEntityTooLarge

from ..channels.base import Headers, WebRequest
from ..errors import PayloadError
from ..web import current_runtime, to_flask_response

bp = Blueprint("gateway", __name__)


@bp.route("/webhooks/<channel>", methods=["GET", "POST"])
def webhook(channel: str):
    runtime = current_runtime()
    environ = request.environ
    req = WebRequest(method=environ["REQUEST_METHOD"], path=request.path, headers=Headers.from_environ(environ),
                     body=b"", args=request.args.to_dict() if environ.get("QUERY_STRING") else {},
                     remote_addr=request.remote_addr or "")
    try:
        req.body = request.get_data(cache=False)
    except RequestEntityTooLarge:
        limit = runtime.settings.max_body_bytes
        return to_flask_response(runtime.ingest.refuse(
            channel, req, PayloadError(f"body larger than {limit} bytes", status=413)))
    return to_flask_response(runtime.ingest.handle(channel, req))
