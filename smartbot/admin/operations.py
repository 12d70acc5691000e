"""Providers (switch the active one in one click), the command catalogue and approvals on the
admin page. Every change goes through the admin API's own functions, so it is validated and
audited exactly as an API call would be."""
from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request, url_for

from ..api import commands as commands_api
from ..api import models as models_api
from ..api.context import ApiError
from ..errors import PayloadError
from ..executor import approvals
from ..httputil import load_json
from ..web import current_runtime
from .base import api_context, bp, checked, done, page, render

PROVIDER_TEXT_FIELDS = ("kind", "base_url", "api_key_env", "model")
PROVIDER_NUMBER_FIELDS = {"read_timeout": float, "max_retries": int, "max_tokens": int, "temperature": float}


def _provider_form(current: Any = None) -> dict[str, Any]:
    """The form's values; for a change (`current` is the stored row) only the text fields that
    differ, since giving api_key_env again would confirm the key for whatever base_url now is."""
    form = request.form
    data: dict[str, Any] = {k: form.get(k, "").strip() for k in PROVIDER_TEXT_FIELDS if form.get(k) is not None}
    if current is None:
        data["name"] = form.get("name", "").strip()
    else:
        data = {k: v for k, v in data.items() if v != (getattr(current, k) or "")}
        if form.get("confirm_key") == "on":
            data["confirm_key"] = True
    data["enabled"] = form.get("enabled") == "on"
    for key, kind in PROVIDER_NUMBER_FIELDS.items():
        raw = form.get(key, "").strip()
        if raw:
            try:
                data[key] = kind(raw)
            except ValueError:
                data[key] = raw          # the field check names it
    return data


@bp.get("/providers")
@page("admin:providers")
def providers_page(principal):
    ctx = api_context(principal)
    with ctx.runtime.db.read() as conn:
        active = models_api._active(conn)
    return render("admin/providers.html", principal=principal, providers=models_api.listing(ctx), active=active,
                  chain=[spec.name for spec in ctx.runtime.providers.chain()], kinds=sorted(models_api.KINDS))


@bp.post("/providers/active")
@page("admin:providers")
def providers_switch(principal):
    ctx = api_context(principal)
    default = request.form.get("default", "")
    with ctx.runtime.db.read() as conn:
        fallback = [n for n in models_api._active(conn)["fallback"] if n != default]
    models_api.switch(ctx, default, fallback)
    return done("saved", "admin.providers_page")


@bp.post("/providers")
@page("admin:providers")
def providers_create(principal):
    models_api.create(api_context(principal), checked(models_api.CREATE_FIELDS, _provider_form()))
    return done("saved", "admin.providers_page")


@bp.post("/providers/<name>")
@page("admin:providers")
def providers_update(principal, name: str):
    ctx = api_context(principal)
    current = models_api.PROVIDERS.one(ctx, name)
    models_api.update(ctx, name, checked(models_api.UPDATE_FIELDS, _provider_form(current), partial=True))
    return done("saved", "admin.providers_page")


@bp.post("/providers/<name>/delete")
@page("admin:providers")
def providers_delete(principal, name: str):
    models_api.PROVIDERS.delete(api_context(principal), name, models_api._provider_in_use)
    return done("deleted", "admin.providers_page")


@bp.post("/providers/<name>/test")
@page("admin:providers")
def providers_test(principal, name: str):
    result = models_api.test(api_context(principal), name)
    flash(f"{name}: " + ("OK, " + str(result.get("latency_ms")) + " ms" if result["ok"]
                         else f"{result['kind']}: {result['reason']}"), "ok" if result["ok"] else "error")
    return redirect(url_for("admin.providers_page"))


def _definition() -> dict[str, Any]:
    try:
        data = load_json(request.form.get("definition", "") or "{}")
    except PayloadError as exc:
        raise ApiError(422, f"not valid JSON ({exc.reason})", "definition") from None
    return data if isinstance(data, dict) else {"argv": data}


@bp.get("/commands")
@page("admin:commands")
def commands_page(principal):
    return render("admin/commands.html", principal=principal, commands=commands_api.listing(api_context(principal)),
                  json=json)


@bp.post("/commands")
@page("admin:commands")
def commands_create(principal):
    commands_api.create(api_context(principal), checked(commands_api.FIELDS, _definition()))
    return done("saved", "admin.commands_page")


@bp.post("/commands/<name>")
@page("admin:commands")
def commands_update(principal, name: str):
    commands_api.update(api_context(principal), name, checked(commands_api.FIELDS, _definition(), partial=True))
    return done("saved", "admin.commands_page")


@bp.post("/commands/<name>/delete")
@page("admin:commands")
def commands_delete(principal, name: str):
    commands_api.remove(api_context(principal), name)
    return done("deleted", "admin.commands_page")


@bp.get("/approvals")
@page("approval:decide")
def approvals_page(principal):
    with current_runtime().db.read() as conn:
        pending = approvals.listing(conn, approvals.PENDING)
        recent = [a for a in approvals.listing(conn, None, 50) if a["status"] != approvals.PENDING]
    return render("admin/approvals.html", principal=principal, pending=pending, recent=recent)


@bp.post("/approvals/<int:approval_id>/<verdict>")
@page("approval:decide")
def approvals_decide(principal, approval_id: int, verdict: str):
    commands_api.decide(api_context(principal), approval_id, verdict == "approve")
    return done("saved", "admin.approvals_page")
