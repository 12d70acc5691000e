"""/api/v1/providers and /api/v1/models/active: model providers at run time, no restart needed.

Add, change, delete and test providers; switch the default provider and its fallback chain in
one call. API keys are never accepted, stored or shown: a provider names the environment
variable that holds its key (`api_key_env`), and the API says only whether that variable is set.
Providers from smartbot.toml are read-only here. Every change is audited with before/after.
"""
from __future__ import annotations

import re
from typing import Any
from urllib.parse import urlparse

import sqlalchemy as sa
from flask import Blueprint

from ..audit.redact import SECRET_KEY_PATTERN, redact
from ..errors import ProviderError
from ..live_config import (MODELS_DEFAULT, MODELS_FALLBACK, PROVIDER_PARAMS, PROVIDERS_VERSION, bump,
                           get_setting, set_setting, spec_from_row)
from ..llm.providers import KINDS
from ..models import ModelRoute, Provider
from .context import ApiContext, ApiError
from .named_rows import NamedRows, changing
from .registry import route
from .schema import Bool, Int, List, Num, Obj, Str

bp = Blueprint("api_models", __name__)
PERMISSION = "admin:providers"
NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}"
ENV_NAME = r"([A-Za-z_][A-Za-z0-9_]{0,99})?"
HEADER_NAME = re.compile(r"[A-Za-z0-9\-]{1,100}")
_providers, _routes = Provider.__table__, ModelRoute.__table__

PROVIDER_FIELDS = {
    "kind": Str(required=True, choices=tuple(KINDS)),
    "base_url": Str(required=True, max_length=500, description="the API's base URL, http(s)"),
    "api_key_env": Str(max_length=100, pattern=ENV_NAME,
                       description="name of the server's environment variable holding the key (never the key)"),
    "model": Str(required=True, min_length=1, max_length=200),
    "connect_timeout": Num(minimum=0.1, maximum=600),
    "read_timeout": Num(minimum=0.1, maximum=3600),
    "total_timeout": Num(minimum=0.1, maximum=3600),
    "max_retries": Int(minimum=0, maximum=10),
    "max_tokens": Int(minimum=1, maximum=1_000_000),
    "temperature": Num(minimum=0, maximum=2),
    "headers": Obj(description="extra HTTP headers (no credentials: those come from api_key_env)"),
    "prompt_price_per_1k": Num(minimum=0, description="price of 1,000 prompt tokens, for cost reports"),
    "completion_price_per_1k": Num(minimum=0),
    "enabled": Bool(),
}
COLUMNS = ("kind", "base_url", "api_key_env", "model", "enabled")


def provider_config(row: Any) -> dict[str, Any]:
    """A provider as the API shows and audits it: effective settings, header values that look
    secret masked, the key only by its variable's name."""
    spec = spec_from_row(row)
    out: dict[str, Any] = {"name": row.name, "kind": row.kind, "base_url": row.base_url, "model": row.model,
                           "api_key_env": row.api_key_env, "enabled": row.enabled, "source": row.source}
    for key in PROVIDER_PARAMS:
        out[key] = getattr(spec, key)
    out["headers"] = redact(dict(spec.headers))
    return out


PROVIDERS = NamedRows(_providers, "provider", "provider", PROVIDERS_VERSION, provider_config)


def _with_state(ctx: ApiContext, config: dict[str, Any]) -> dict[str, Any]:
    """The stored config plus what this process knows now: is the key there, is the circuit open."""
    models = ctx.runtime.models
    state = models.states().get(config["name"])
    return {**config, "api_key_set": models.key_is_set(config["api_key_env"]),
            "circuit": state.state if state else "closed", "circuit_reason": state.last_reason if state else ""}


CREATE_FIELDS = {"name": Str(required=True, pattern=NAME, max_length=100), **PROVIDER_FIELDS}


def listing(ctx: ApiContext) -> list[dict[str, Any]]:
    return [_with_state(ctx, p) for p in PROVIDERS.all(ctx)]


def create(ctx: ApiContext, body: dict[str, Any]) -> dict[str, Any]:
    body = _checked(ctx, body)
    values = {k: body[k] for k in COLUMNS if k in body}
    values.setdefault("api_key_env", "")
    values.setdefault("enabled", True)
    values["params"] = {k: body[k] for k in PROVIDER_PARAMS if k in body}
    return _with_state(ctx, PROVIDERS.create(ctx, body["name"], values))


def update(ctx: ApiContext, name: str, body: dict[str, Any]) -> dict[str, Any]:
    body = _checked(ctx, body)

    def changes(row: Any) -> dict[str, Any]:
        values = {k: body[k] for k in COLUMNS if k in body}
        values["params"] = {**(row.params or {}), **{k: body[k] for k in PROVIDER_PARAMS if k in body}}
        return values

    return _with_state(ctx, PROVIDERS.update(ctx, name, changes))


@route(bp, "/providers", "GET", summary="All model providers, with their circuit state", permission=PERMISSION,
       tag="models")
def list_providers(ctx: ApiContext):
    return {"items": listing(ctx)}


@route(bp, "/providers", "POST", summary="Add a model provider", permission=PERMISSION, tag="models",
       body=CREATE_FIELDS)
def create_provider(ctx: ApiContext):
    return create(ctx, ctx.body), 201


@route(bp, "/providers/<name>", "GET", summary="One model provider", permission=PERMISSION, tag="models")
def get_provider(ctx: ApiContext, name: str):
    return _with_state(ctx, provider_config(PROVIDERS.one(ctx, name)))


@route(bp, "/providers/<name>", "PATCH", summary="Change a model provider (the fields given)", permission=PERMISSION,
       tag="models", body=PROVIDER_FIELDS, partial=True)
def update_provider(ctx: ApiContext, name: str):
    return update(ctx, name, ctx.body)


@route(bp, "/providers/<name>", "DELETE", summary="Remove a model provider that nothing uses", permission=PERMISSION,
       tag="models")
def delete_provider(ctx: ApiContext, name: str):
    PROVIDERS.delete(ctx, name, _provider_in_use)
    return {"deleted": name}


@route(bp, "/providers/<name>/test", "POST", summary="Test a provider: one real one-token completion, no retries",
       permission=PERMISSION, tag="models")
def test_provider(ctx: ApiContext, name: str):
    return test(ctx, name)


def test(ctx: ApiContext, name: str) -> dict[str, Any]:
    """One real one-token completion with no retries: does this provider answer with its key?"""
    spec = spec_from_row(PROVIDERS.one(ctx, name))
    models = ctx.runtime.models
    if spec.api_key_env and not models.key_is_set(spec.api_key_env):
        return {"ok": False, "provider": name, "kind": "auth",
                "reason": f"environment variable {spec.api_key_env} is not set on the server"}
    try:
        answer = models.try_provider(spec, ctx.actor)
    except ProviderError as exc:
        return {"ok": False, "provider": name, "kind": exc.kind, "reason": exc.reason}
    return {"ok": True, "provider": name, "model": answer.model, "latency_ms": round(answer.latency * 1000, 1),
            "answer": answer.text[:200]}


@route(bp, "/models/active", "GET", summary="The default provider, its fallbacks and the chain in effect",
       permission=PERMISSION, tag="models")
def get_active(ctx: ApiContext):
    with ctx.runtime.db.read() as conn:
        active = _active(conn)
    return {**active, "chain": [spec.name for spec in ctx.runtime.providers.chain()]}


@route(bp, "/models/active", "PUT", summary="Switch the default provider and its fallback chain in one call",
       permission=PERMISSION, tag="models",
       body={"default": Str(required=True, pattern=NAME, max_length=100),
             "fallback": List(item=Str(pattern=NAME, max_length=100), max_items=10)})
def switch_active(ctx: ApiContext):
    return switch(ctx, ctx.body["default"], ctx.body.get("fallback", []))


def switch(ctx: ApiContext, default: str, fallback: list[str]) -> dict[str, Any]:
    """Make `default` the provider every message uses first, then `fallback`: one audited change."""
    db = ctx.runtime.db
    with changing(ctx) as conn:
        enabled = {r.name: r.enabled for r in conn.execute(sa.select(_providers.c.name, _providers.c.enabled))}
        for field_name, name in (("default", default), *((f"fallback[{i}]", n) for i, n in enumerate(fallback))):
            if name not in enabled:
                raise ApiError(422, f"no provider named {name!r}", field_name)
            if not enabled[name]:
                raise ApiError(422, f"provider {name!r} is disabled; enable it first", field_name)
        if default in fallback or len(set(fallback)) != len(fallback):
            raise ApiError(422, "list each provider once: the default is not also a fallback", "fallback")
        before = _active(conn)
        set_setting(conn, db, MODELS_DEFAULT, default)
        set_setting(conn, db, MODELS_FALLBACK, list(fallback))
        bump(conn, db, PROVIDERS_VERSION)
        after = _active(conn)
        ctx.record_change(conn, "models.switched", "models", before, after)
    return {**after, "chain": [spec.name for spec in ctx.runtime.providers.chain()]}


def _active(conn: Any) -> dict[str, Any]:
    return {"default": get_setting(conn, MODELS_DEFAULT, "") or "",
            "fallback": list(get_setting(conn, MODELS_FALLBACK, []) or [])}


def _provider_in_use(conn: Any, row: Any) -> str:
    active = _active(conn)
    if row.name == active["default"] or row.name in active["fallback"]:
        return f"provider {row.name!r} is in the active chain; switch it out first (PUT /models/active)"
    users = [r.name for r in conn.execute(sa.select(_routes.c.name, _routes.c.provider, _routes.c.fallback))
             if r.provider == row.name or row.name in (r.fallback or [])]
    if users:
        return f"provider {row.name!r} is used by the model routes {', '.join(sorted(users))}; change them first"
    return ""


def _checked(ctx: ApiContext, body: dict[str, Any]) -> dict[str, Any]:
    """What the field schema cannot say: a real URL, no credential in the headers, and no key
    variable that holds one of SmartBot's own secrets (an admin of providers must not be able to
    send the server's signing key to a URL of their choice)."""
    if "base_url" in body:
        parsed = urlparse(body["base_url"])
        if parsed.scheme not in ("http", "https") or not parsed.netloc:
            raise ApiError(422, "must be an http(s) URL like https://api.example.com/v1", "base_url")
    env_name = body.get("api_key_env") or ""
    reserved = {ctx.runtime.settings.secret_key_env.upper(), "DATABASE_URL"}
    if env_name.upper().startswith("SMARTBOT_") or env_name.upper() in reserved:
        raise ApiError(422, "this variable holds SmartBot's own settings or secrets; put the API key in a "
                            "variable of its own", "api_key_env")
    headers = body.get("headers")
    if headers is not None:
        if len(headers) > 30:
            raise ApiError(422, "at most 30 extra headers", "headers")
        for key, value in headers.items():
            if not HEADER_NAME.fullmatch(key) or not isinstance(value, str) or len(value) > 1000:
                raise ApiError(422, "header names are letters, digits and '-', values text up to 1000 characters",
                               f"headers.{key}")
            if SECRET_KEY_PATTERN.search(key):
                raise ApiError(422, "credentials are never stored: put the key in an environment variable and "
                                    "name it in api_key_env", f"headers.{key}")
    return body
