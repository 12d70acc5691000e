"""Providers (switch the active one in one click), the command catalogue and approvals on the
admin page. Every change goes through the same management functions and field declarations as
the admin API (manage/), so it is validated and audited exactly as an API call would be."""
from __future__ import annotations

import json
from typing import Any

from flask import flash, redirect, request, url_for

from ..errors import PayloadError
from ..executor import approvals
from ..httputil import load_json
from ..i18n import catalogue, t
from ..i18n.reasons import reason
from ..llm.breaker import CLOSED, HALF_OPEN, OPEN
from ..manage import commands, names, providers
from ..manage.errors import Invalid
from ..manage.fields import validate
from ..web.context import current_runtime
from .base import bp, done, locale, number_fields, page, render

PROVIDER_TEXT_FIELDS = ("kind", "base_url", "api_key_env", "model")
CIRCUIT_STATES = (CLOSED, OPEN, HALF_OPEN)         # each has a label in the catalogues
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
    data["vision"] = form.get("vision") == "on"
    return {**data, **number_fields(PROVIDER_NUMBER_FIELDS)}


@bp.get("/providers")
@page("admin:providers")
def providers_page(principal):
    runtime = current_runtime()
    return render("admin/providers.html", principal=principal, providers=providers.listing(runtime),
                  circuit_states=CIRCUIT_STATES,
                  active=providers.active(runtime.db), chain=providers.chain(runtime), kinds=providers.KIND_EXAMPLES)


@bp.post("/providers/active")
@page("admin:providers")
def providers_switch(principal):
    runtime = current_runtime()
    default = request.form.get("default", "")
    fallback = [n for n in providers.active(runtime.db)["fallback"] if n != default]
    providers.switch(runtime, principal, default, fallback)
    return done("saved", "admin.providers_page")


@bp.post("/providers")
@page("admin:providers")
def providers_create(principal):
    providers.create(current_runtime(), principal, validate(providers.CREATE_FIELDS, _provider_form()))
    return done("saved", "admin.providers_page")


@bp.post("/providers/<name>")
@page("admin:providers")
def providers_update(principal, name: str):
    runtime = current_runtime()
    current = providers.stored(runtime.db, name)
    providers.update(runtime, principal, name, validate(providers.UPDATE_FIELDS, _provider_form(current), partial=True))
    return done("saved", "admin.providers_page")


@bp.post("/providers/<name>/delete")
@page("admin:providers")
def providers_delete(principal, name: str):
    providers.delete(current_runtime(), principal, name)
    return done("deleted", "admin.providers_page")


@bp.post("/providers/<name>/test")
@page("admin:providers")
def providers_test(principal, name: str):
    result = providers.test(current_runtime(), principal, name)
    flash(t("admin.flash.provider_ok", locale(), name=name, ms=result.get("latency_ms")) if result["ok"]
          else t("admin.flash.provider_failed", locale(), name=name, kind=result["kind"], reason=result["reason"]),
          "ok" if result["ok"] else "error")
    return redirect(url_for("admin.providers_page"))


def _definition() -> dict[str, Any]:
    try:
        data = load_json(request.form.get("definition", "") or "{}")
    except PayloadError as exc:
        raise Invalid(reason("reason.field.not_json", detail=exc.reason), "definition") from None
    return data if isinstance(data, dict) else {"argv": data}


@bp.get("/commands")
@page("admin:commands")
def commands_page(principal):
    listing = commands.listing(current_runtime())
    shown = {c["name"]: _description_shown(c) for c in listing}
    return render("admin/commands.html", principal=principal, commands=listing, descriptions=shown, json=json)


def _description_shown(command: dict[str, Any]) -> str:
    """A starter command's description in the page's language (the catalogues have one per starter
    command, by name); any other command's as its author wrote it."""
    key = f"admin.starter.{command['name']}"
    if command.get("source") == commands.STARTER_SOURCE and key in catalogue("en"):
        return t(key, locale())
    return command.get("description", "")


@bp.post("/commands")
@page("admin:commands")
def commands_create(principal):
    commands.create(current_runtime(), principal, validate(commands.FIELDS, _definition()))
    return done("saved", "admin.commands_page")


@bp.post("/commands/<name>")
@page("admin:commands")
def commands_update(principal, name: str):
    commands.update(current_runtime(), principal, name, validate(commands.FIELDS, _definition(), partial=True))
    return done("saved", "admin.commands_page")


@bp.post("/commands/<name>/delete")
@page("admin:commands")
def commands_delete(principal, name: str):
    commands.remove(current_runtime(), principal, name)
    return done("deleted", "admin.commands_page")


@bp.get("/approvals")
@page("approval:decide")
def approvals_page(principal):
    db = current_runtime().db
    pending = commands.approval_listing(db, approvals.PENDING)
    recent = [a for a in commands.approval_listing(db, None, 50) if a["status"] != approvals.PENDING]
    with db.read() as conn:
        who = names.actors_named(conn, {a["requester"] for a in pending + recent} |
                                 {a["decided_by"] for a in recent if a["decided_by"]})
    named = [[{**a, "who": who[a["requester"]], "decider": who.get(a["decided_by"])} for a in rows]
             for rows in (pending, recent)]
    return render("admin/approvals.html", principal=principal, pending=named[0], recent=named[1],
                  statuses=approvals.STATUSES)


@bp.post("/approvals/<int:approval_id>/<verdict>")
@page("approval:decide")
def approvals_decide(principal, approval_id: int, verdict: str):
    approve = verdict == "approve"
    commands.decide(current_runtime(), principal, approval_id, approve)
    flash(t("admin.flash.approved" if approve else "admin.flash.denied", locale(), id=approval_id), "ok")
    return redirect(url_for("admin.approvals_page"))
