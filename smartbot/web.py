"""Glue between Flask and the Flask-free core: find the Runtime, turn WebResponses into responses."""
from __future__ import annotations

import json

from flask import Response, current_app

from .channels.base import WebResponse


def current_runtime():
    return current_app.extensions["smartbot"]


def login_guard():
    """The app's failed-login back-off (per address and per name at an address, in the database)."""
    return current_app.extensions["smartbot_login_guard"]


def to_flask_response(res: WebResponse) -> Response:
    body, content_type = res.encoded()
    response = Response(body, status=res.status, content_type=content_type)
    for key, value in res.headers.items():
        response.headers[key] = value
    return response


def json_error(status: int, reason: str) -> Response:
    return Response(json.dumps({"error": reason}), status=status, content_type="application/json")
