"""/api/v1: the API blueprint, its error handling, and the OpenAPI document."""
from __future__ import annotations

import logging

from flask import Blueprint, jsonify
from werkzeug.exceptions import HTTPException

from .context import ApiError
from .registry import openapi

log = logging.getLogger(__name__)
PREFIX = "/api/v1"

bp = Blueprint("api", __name__, url_prefix=PREFIX)


@bp.errorhandler(ApiError)
def _api_error(exc: ApiError):
    return jsonify(exc.body()), exc.status


@bp.errorhandler(HTTPException)
def _http_error(exc: HTTPException):
    return jsonify(error=exc.description or exc.name), exc.code or 500


@bp.get("/openapi.json")
def openapi_document():
    return jsonify(openapi(PREFIX))


_attached = False


def attach_resources() -> Blueprint:
    """The API blueprint with every resource module's routes under it (each module owns its own
    Blueprint); attached once per process, before the first app registers it."""
    global _attached
    if not _attached:
        from . import (audit, commands, mcp_servers, model_routes, models, people, queues, roles, rules, session,
                       state, tokens, usage, workflows)

        for module in (session, people, roles, rules, audit, state, queues, commands, models, model_routes, usage,
                       workflows, mcp_servers, tokens):
            bp.register_blueprint(module.bp)
        from . import handoffs, knowledge, profiles

        for module in (profiles, handoffs, knowledge):
            bp.register_blueprint(module.bp)
        _attached = True
    return bp
