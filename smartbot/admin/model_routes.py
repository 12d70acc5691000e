"""Model routes on the admin page: which provider chain answers which chat messages. Listing,
adding, changing and removing go through manage/model_routes.py, with the API's own field checks
and audit; routes from smartbot.toml are shown read-only."""
from __future__ import annotations

import json
from typing import Any

from flask import request

from ..manage import model_routes, providers
from ..manage.fields import validate
from ..web.context import current_runtime
from .base import bp, done, json_field, number_fields, page, render

PERMISSION = "admin:providers"
NUMBERS = {"position": int, "cache_ttl": float}


def _form(creating: bool) -> dict[str, Any]:
    """The form as the API's body."""
    form = request.form
    data: dict[str, Any] = {"provider": form.get("provider", "").strip(), "match": json_field("match"),
                            "fallback": [n.strip() for n in form.get("fallback", "").split(",") if n.strip()],
                            "system_prompt": form.get("system_prompt", ""), "enabled": form.get("enabled") == "on"}
    if creating:
        data["name"] = form.get("name", "").strip()
    return {**data, **number_fields(NUMBERS)}


@bp.get("/model-routes")
@page(PERMISSION)
def model_routes_page(principal):
    runtime = current_runtime()
    return render("admin/model_routes.html", principal=principal, routes=model_routes.listing(runtime.db),
                  provider_names=sorted(p["name"] for p in providers.PROVIDERS.all(runtime.db)), json=json)


@bp.post("/model-routes")
@page(PERMISSION)
def model_routes_create(principal):
    model_routes.create(current_runtime(), principal, validate(model_routes.CREATE_FIELDS, _form(True)))
    return done("saved", "admin.model_routes_page")


@bp.post("/model-routes/<name>")
@page(PERMISSION)
def model_routes_update(principal, name: str):
    body = validate(model_routes.ROUTE_FIELDS, _form(False), partial=True)
    model_routes.update(current_runtime(), principal, name, body)
    return done("saved", "admin.model_routes_page")


@bp.post("/model-routes/<name>/delete")
@page(PERMISSION)
def model_routes_delete(principal, name: str):
    model_routes.delete(current_runtime(), principal, name)
    return done("deleted", "admin.model_routes_page")
