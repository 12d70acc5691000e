"""Declaring an API endpoint once: the Flask route, its permission, its body schema and its
OpenAPI entry all come from the same `@route(...)` call, so the document cannot drift."""
from __future__ import annotations

import functools
import re
from dataclasses import dataclass, field
from typing import Any, Callable

import sqlalchemy as sa
from flask import Blueprint, Response, jsonify

from ..errors import PayloadError, PermissionDenied
from ..manage.errors import ManageError
from ..manage.fields import Field, validate
from ..version import __version__
from ..web.context import request_json
from ..web.session import AccessRefused, require
from .context import ApiContext, ApiError
from .schema import object_schema


@dataclass
class Endpoint:
    rule: str
    method: str
    summary: str
    permission: str | None
    tag: str
    body: dict[str, Field] | None = None
    partial: bool = False
    query: dict[str, str] = field(default_factory=dict)
    refresh: bool = False


ENDPOINTS: list[Endpoint] = []


def route(bp: Blueprint, rule: str, method: str, *, summary: str, permission: str | None, tag: str,
          body: dict[str, Field] | None = None, partial: bool = False, query: dict[str, str] | None = None,
          refresh: bool = False) -> Callable:
    """Register `fn(ctx, **url_args)` as an API view. `permission=None` means no login needed."""
    endpoint = Endpoint(rule, method.upper(), summary, permission, tag, body, partial, query or {}, refresh)
    ENDPOINTS.append(endpoint)

    def decorate(fn: Callable) -> Callable:
        @functools.wraps(fn)
        def view(**kwargs: Any):
            ctx = ApiContext.build()
            if permission is not None:
                try:
                    ctx.principal, ctx.claims = require(ctx.runtime, permission, refresh=refresh)
                except AccessRefused as exc:
                    raise ApiError(exc.status, exc.reason) from None
            try:
                if body is not None:
                    ctx.body = validate(body, request_json(), partial=partial)
                result = fn(ctx, **kwargs)
            except PayloadError as exc:
                raise ApiError(exc.status, exc.reason) from None
            except ManageError as exc:
                raise ApiError(exc.status, exc.reason, exc.field) from None
            except PermissionDenied as exc:         # audited where it was raised (e.g. delegation.denied)
                raise ApiError(403, exc.reason) from None
            except sa.exc.IntegrityError:
                raise ApiError(409, "that conflicts with an existing record (it was probably just created)") from None
            if isinstance(result, Response):
                return result
            status = 200
            if isinstance(result, tuple):
                result, status = result
            return jsonify(result), status

        bp.add_url_rule(rule, endpoint=f"{fn.__name__}_{endpoint.method.lower()}", view_func=view,
                        methods=[endpoint.method])
        return fn

    return decorate


_PARAM = re.compile(r"<(?:(\w+):)?(\w+)>")


def openapi(prefix: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for ep in ENDPOINTS:
        path = prefix + _PARAM.sub(lambda m: "{" + m.group(2) + "}", ep.rule)
        op: dict[str, Any] = {"summary": ep.summary, "tags": [ep.tag], "operationId": _operation_id(ep),
                              "responses": {"200": {"description": "OK"},
                                            "400": {"$ref": "#/components/responses/Error"},
                                            "422": {"$ref": "#/components/responses/Error"}}}
        params = [{"name": name, "in": "path", "required": True,
                   "schema": {"type": "integer" if conv == "int" else "string"}}
                  for conv, name in _PARAM.findall(ep.rule)]
        params += [{"name": name, "in": "query", "required": False, "description": text, "schema": {"type": "string"}}
                   for name, text in ep.query.items()]
        if params:
            op["parameters"] = params
        if ep.permission is not None:
            op["security"] = [{"bearerAuth": []}]
            op["description"] = f"Needs the permission `{ep.permission}`."
            op["responses"]["401"] = {"$ref": "#/components/responses/Error"}
            op["responses"]["403"] = {"$ref": "#/components/responses/Error"}
        if ep.body is not None:
            op["requestBody"] = {"required": True, "content": {"application/json": {"schema": object_schema(ep.body)}}}
        paths.setdefault(path, {})[ep.method.lower()] = op
    return {
        "openapi": "3.0.3",
        "info": {"title": "SmartBot admin API", "version": __version__},
        "paths": paths,
        "components": {
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT"}},
            "responses": {"Error": {"description": "An error with its reason",
                                    "content": {"application/json": {"schema": {
                                        "type": "object", "properties": {"error": {"type": "string"},
                                                                         "field": {"type": "string"}}}}}}},
        },
    }


def _operation_id(ep: Endpoint) -> str:
    return ep.method.lower() + "_" + re.sub(r"[^a-zA-Z0-9]+", "_", ep.rule).strip("_")
