"""Glue between Flask and the Flask-free core: find the Runtime, turn WebResponses into responses."""
from __future__ import annotations

import json
from typing import Any

from flask import Response, current_app, request

from ..channels.base import WebResponse
from ..errors import PayloadError
from ..httputil import load_json


def current_runtime():
    return current_app.extensions["smartbot"]


def login_guard():
    """The app's failed-login back-off (per address and per name at an address, in the database)."""
    return current_app.extensions["smartbot_login_guard"]


def request_json(max_bytes: int | None = None) -> Any:
    """The request's body as JSON, parsed by `httputil.load_json` (depth, size, finite numbers), or
    PayloadError with the reason. A body not sent as application/json is refused: a cross-site form
    can send JSON-looking text, but not with that type."""
    if not request.is_json:
        raise PayloadError("the body must be JSON (Content-Type: application/json)")
    return load_json(request.get_data(cache=True), max_bytes=max_bytes)


def to_flask_response(res: WebResponse) -> Response:
    body, content_type = res.encoded()
    response = Response(body, status=res.status, content_type=content_type)
    for key, value in res.headers.items():
        response.headers[key] = value
    return response


def json_error(status: int, reason: str) -> Response:
    return Response(json.dumps({"error": reason}), status=status, content_type="application/json")
