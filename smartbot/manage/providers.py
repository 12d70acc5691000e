"""Model providers at run time, no restart needed, for the admin API and the admin page alike.

Add, change, delete and test providers; switch the default provider and its fallback chain in
one call. API keys are never accepted, stored or shown: a provider names the environment
variable that holds its key (`api_key_env`), and only whether that variable is set is shown.
Providers from smartbot.toml are read-only here. Every change is audited with before/after.

Holding admin:providers must not mean holding every secret of the server (llm/keys.py has the
rules): a key variable must be a provider key, never one of SmartBot's own; another provider's
key is shared only at that provider's origin; a key is sent only to the origin it was confirmed
for; a refused change is audited. The provider test reflects nothing of the answer but its
status, follows no redirect, and is audited (at most once per caller, provider and result per
`[audit] refusal_audit_interval`, so the button cannot flood the log).
"""
from __future__ import annotations

import contextlib
import re
from typing import Any, Iterator

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from .. import audit
from ..assistant import usage
from ..i18n.reasons import reason
from ..telemetry.redact import SECRET_KEY_PATTERN, redact
from ..auth.rbac import Principal
from ..errors import ProviderError
from ..assistant.provider_store import (MODELS_DEFAULT, MODELS_FALLBACK, PROVIDER_PARAMS, PROVIDERS_VERSION,
                                        effective_default, spec_from_row)
from ..storage.runtime_settings import bump, get_setting, set_setting
from ..llm.base import ProviderSpec
from ..llm.keys import base_url_problem, origin, sharing_problem
from ..llm.providers import KINDS
from ..storage.tables import ModelRoute, Provider
from . import changes
from .errors import Invalid
from .fields import Bool, Int, List, Num, Obj, Str
from .named_rows import NamedRows, changing

NAME = r"[A-Za-z0-9][A-Za-z0-9_.\-]{0,99}"
ENV_NAME = r"([A-Za-z_][A-Za-z0-9_]{0,99})?"
HEADER_NAME = re.compile(r"[A-Za-z0-9\-]{1,100}")
_providers, _routes = Provider.__table__, ModelRoute.__table__

PROVIDER_FIELDS = {
    "kind": Str(required=True, choices=tuple(KINDS)),
    "base_url": Str(required=True, max_length=500,
                    description="the API's base URL: http or https, a host, no user@, no ?query, no #fragment, no "
                                "backslash or spaces. The key is sent only to the origin (scheme, host, port) it "
                                "was confirmed for: moving base_url to another origin withholds the key until "
                                "confirmed (confirm_key, or api_key_env given in the same change)"),
    "api_key_env": Str(max_length=100, pattern=ENV_NAME,
                       description="name of the server's environment variable holding the key (never the key): "
                                   "a provider key variable (*_API_KEY, or what [security] provider_key_envs "
                                   "lists), never one of SmartBot's own (SMARTBOT_*, DATABASE_URL, the signing key, "
                                   "a channel's secret); another provider's variable only at that provider's "
                                   "origin. Giving it confirms the key for base_url's origin"),
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
    "vision": Bool(description="the model reads images: images users send go to it as image parts "
                               "(otherwise it gets a note and the user is told it cannot read images)"),
    "enabled": Bool(),
}
CREATE_FIELDS = {"name": Str(required=True, pattern=NAME, max_length=100), **PROVIDER_FIELDS}
UPDATE_FIELDS = {
    **PROVIDER_FIELDS,
    "confirm_key": Bool(description="true: send the key to the origin (scheme, host, port) base_url has after "
                                    "this change. Without it (or api_key_env in the same change) a base_url moved "
                                    "to another origin gets no key: calls and tests say why (key_withheld)"),
}
SWITCH_FIELDS = {"default": Str(required=True, pattern=NAME, max_length=100),
                 "fallback": List(item=Str(pattern=NAME, max_length=100), max_items=10)}
COLUMNS = ("kind", "base_url", "api_key_env", "model", "enabled")
# What a form suggests for each kind, the first one chosen by default (placeholders: nothing is
# filled in on anyone's behalf). A test keeps it in step with KINDS.
KIND_EXAMPLES: dict[str, dict[str, str]] = {
    "openai": {"base_url": "https://api.openai.com/v1", "api_key_env": "OPENAI_API_KEY", "model": "gpt-4o-mini"},
    "anthropic": {"base_url": "https://api.anthropic.com", "api_key_env": "ANTHROPIC_API_KEY",
                  "model": "claude-3-5-haiku-latest"},
    "ollama": {"base_url": "http://127.0.0.1:11434", "api_key_env": "", "model": "llama3.1"},
}
# Refusals worth an audit row: what could carry a secret somewhere else.
AUDITED_FIELDS = ("base_url", "api_key_env")


def provider_config(row: Row[Any]) -> dict[str, Any]:
    """A provider as admins see it and the audit log records it: effective settings, header
    values that look secret masked, the key only by its variable's name."""
    spec = spec_from_row(row)
    out: dict[str, Any] = {"name": row.name, "kind": row.kind, "base_url": row.base_url, "model": row.model,
                           "api_key_env": row.api_key_env, "key_origin": row.key_origin or "",
                           "key_confirmed": not row.api_key_env or origin(row.base_url) == row.key_origin,
                           "enabled": row.enabled, "source": row.source}
    for key in PROVIDER_PARAMS:
        out[key] = getattr(spec, key)
    out["headers"] = redact(dict(spec.headers))
    return out


def _check_key(runtime: Any, conn: Connection, name: str, values: dict[str, Any], row: Row[Any]) -> None:
    """The key variable a change leaves the provider with must be a provider key of its own, and
    another provider's only at that provider's origin (llm/keys.py)."""
    if row is not None and not {"api_key_env", "base_url", "key_origin"} & set(values):
        return
    variable = values.get("api_key_env", row.api_key_env if row is not None else "")
    base_url = values.get("base_url", row.base_url if row is not None else "")
    if not variable:
        return
    field_name = "api_key_env" if "api_key_env" in values or row is None else "base_url"
    problem = runtime.models.key_rules.variable_problem(variable)
    if not problem:
        others = conn.execute(sa.select(_providers.c.name, _providers.c.api_key_env, _providers.c.base_url)
                              .where(_providers.c.name != name)).all()
        problem = sharing_problem(variable, base_url, [tuple(r) for r in others])
    if problem:
        raise Invalid(problem, field_name)


def _confirmed(conn: Connection, actor: str, name: str, before: Any, after: Any) -> None:
    """Audit a key confirmed for an origin it was not confirmed for before."""
    if not after or not after["api_key_env"] or not after["key_origin"]:
        return
    if before and (before["api_key_env"], before["key_origin"]) == (after["api_key_env"], after["key_origin"]):
        return
    audit.record(conn, "provider.key_confirmed", actor, name, "ok",
                 {"api_key_env": after["api_key_env"], "origin": after["key_origin"]})


PROVIDERS = NamedRows(_providers, "provider", "provider", PROVIDERS_VERSION, provider_config, _check_key, _confirmed)


def _with_state(runtime: Any, config: dict[str, Any]) -> dict[str, Any]:
    """The stored config plus what this process knows now: is the key there (and sent), is the circuit open."""
    models = runtime.models
    state = models.states().get(config["name"])
    spec = ProviderSpec(name=config["name"], kind=config["kind"], base_url=config["base_url"], model=config["model"],
                        api_key_env=config["api_key_env"], key_origin=config["key_origin"],
                        from_file=config["source"] == "config")
    return {**config, "api_key_set": models.key_is_set(config["api_key_env"]),
            "key_withheld": models.key_withheld(spec), "circuit": state.state if state else "closed",
            "circuit_reason": state.last_reason if state else ""}


def listing(runtime: Any) -> list[dict[str, Any]]:
    return [_with_state(runtime, p) for p in PROVIDERS.all(runtime.db)]


def stored(db: Any, name: str) -> Row[Any]:
    """The provider's row (NotFound when there is none)."""
    return PROVIDERS.one(db, name)


def get(runtime: Any, name: str) -> dict[str, Any]:
    return _with_state(runtime, provider_config(stored(runtime.db, name)))


def create(runtime: Any, caller: Principal, body: dict[str, Any]) -> dict[str, Any]:
    with _refusals_audited(runtime, caller, body["name"]):
        body = _checked(body)
        values = {k: body[k] for k in COLUMNS if k in body}
        values.setdefault("api_key_env", "")
        values.setdefault("enabled", True)
        values["key_origin"] = origin(values["base_url"]) if values["api_key_env"] else ""
        values["params"] = {k: body[k] for k in PROVIDER_PARAMS if k in body}
        return _with_state(runtime, PROVIDERS.create(runtime, caller, body["name"], values))


def update(runtime: Any, caller: Principal, name: str, body: dict[str, Any]) -> dict[str, Any]:
    """Change the fields given. Giving api_key_env, or confirm_key: true, confirms the key for the
    origin base_url has afterwards; otherwise the key stays confirmed for the origin it had."""

    def values_for(row: Row[Any]) -> dict[str, Any]:
        values = {k: body[k] for k in COLUMNS if k in body}
        values["params"] = {**(row.params or {}), **{k: body[k] for k in PROVIDER_PARAMS if k in body}}
        if "api_key_env" in body or body.get("confirm_key"):
            variable = values.get("api_key_env", row.api_key_env)
            values["key_origin"] = origin(values.get("base_url", row.base_url)) if variable else ""
        return values

    with _refusals_audited(runtime, caller, name):
        body = _checked(body)
        return _with_state(runtime, PROVIDERS.update(runtime, caller, name, values_for))


def delete(runtime: Any, caller: Principal, name: str) -> None:
    """Remove a provider that nothing uses (neither the active chain nor a model route)."""
    PROVIDERS.delete(runtime, caller, name, _provider_in_use)


@contextlib.contextmanager
def _refusals_audited(runtime: Any, caller: Principal, name: str) -> Iterator[None]:
    """A refused key variable or base_url leaves an audit row (written after the refused
    transaction rolled back) before the refusal goes out."""
    try:
        yield
    except Invalid as exc:
        if exc.field in AUDITED_FIELDS:
            with runtime.db.write() as conn:
                audit.record(conn, "provider.refused", changes.actor_of(caller), name, "refused",
                             {"field": exc.field, "reason": exc.reason})
        raise


def test(runtime: Any, caller: Principal, name: str) -> dict[str, Any]:
    """One real one-token completion with no retries: does this provider answer with its key?"""
    spec = spec_from_row(stored(runtime.db, name))
    actor = changes.actor_of(caller)
    result = _try(runtime, spec, actor)
    _audit_test(runtime, actor, spec, result)
    return result


def _try(runtime: Any, spec: ProviderSpec, actor: str) -> dict[str, Any]:
    models = runtime.models
    withheld = models.key_withheld(spec)
    if withheld:
        return {"ok": False, "provider": spec.name, "kind": "key_withheld", "reason": withheld}
    if spec.api_key_env and not models.key_is_set(spec.api_key_env):
        return {"ok": False, "provider": spec.name, "kind": "auth",
                "reason": f"environment variable {spec.api_key_env} is not set on the server"}
    try:
        answer = models.try_provider(spec, actor)
    except ProviderError as exc:
        return {"ok": False, "provider": spec.name, "kind": exc.kind, "reason": exc.reason}
    with runtime.db.write() as conn:        # the test's tokens are the tester's
        usage.record_all(conn, usage.spent(actor, [answer]))
    # The provider's own model name and text stay out: a base_url may point at any service.
    return {"ok": True, "provider": spec.name, "model": spec.model, "latency_ms": round(answer.latency * 1000, 1)}


def _audit_test(runtime: Any, actor: str, spec: ProviderSpec, result: dict[str, Any]) -> None:
    """One audit row per caller, provider and result per [audit] refusal_audit_interval (as refused
    webhooks are), shared through [cache] url when set; never the key."""
    outcome = "ok" if result["ok"] else result["kind"]
    interval = max(runtime.settings.audit.refusal_audit_interval, 0.001)
    if runtime.store.incr(f"provider-test:{actor}:{spec.name}:{outcome}", interval) > 1:
        return
    details = {"origin": origin(spec.base_url), "api_key_env": spec.api_key_env,
               "kind": outcome, "reason": result.get("reason", "")}
    with runtime.db.write() as conn:
        audit.record(conn, "provider.tested", actor, spec.name, "ok" if result["ok"] else "failed", details)


def active(db: Any) -> dict[str, Any]:
    """The default provider and its fallbacks. `default` is the one messages go to first: the
    one chosen while it is enabled, else the first enabled provider (the chain's own rule), so a
    lone provider is the default without anyone choosing it."""
    with db.read() as conn:
        stored = _active(conn)
        enabled = list(conn.execute(sa.select(_providers.c.name).where(_providers.c.enabled.is_(True))
                                    .order_by(_providers.c.id)).scalars())
    return {**stored, "default": effective_default(stored["default"], enabled)}


def chain(runtime: Any) -> list[str]:
    """The names of the providers a message tries, in order, as this process has them now."""
    return [spec.name for spec in runtime.providers.chain()]


def switch(runtime: Any, caller: Principal, default: str, fallback: list[str]) -> dict[str, Any]:
    """Make `default` the provider every message uses first, then `fallback`: one audited change."""
    db = runtime.db
    with changing(runtime) as conn:
        enabled = {r.name: r.enabled for r in conn.execute(sa.select(_providers.c.name, _providers.c.enabled))}
        for field_name, name in (("default", default), *((f"fallback[{i}]", n) for i, n in enumerate(fallback))):
            if name not in enabled:
                raise Invalid(reason("reason.provider.unknown", name=repr(name)), field_name)
            if not enabled[name]:
                raise Invalid(reason("reason.provider.disabled", name=repr(name)), field_name)
        if default in fallback or len(set(fallback)) != len(fallback):
            raise Invalid(reason("reason.provider.listed_twice"), "fallback")
        before = _active(conn)
        set_setting(conn, db, MODELS_DEFAULT, default)
        set_setting(conn, db, MODELS_FALLBACK, list(fallback))
        bump(conn, db, PROVIDERS_VERSION)
        after = _active(conn)
        changes.record(conn, changes.actor_of(caller), "models.switched", "models", before, after)
    return {**after, "chain": chain(runtime)}


def _active(conn: Connection) -> dict[str, Any]:
    return {"default": get_setting(conn, MODELS_DEFAULT, "") or "",
            "fallback": list(get_setting(conn, MODELS_FALLBACK, []) or [])}


def _provider_in_use(conn: Connection, row: Row[Any]) -> str:
    current = _active(conn)
    if row.name == current["default"] or row.name in current["fallback"]:
        return f"provider {row.name!r} is in the active chain; switch it out first (PUT /models/active)"
    users = [r.name for r in conn.execute(sa.select(_routes.c.name, _routes.c.provider, _routes.c.fallback))
             if r.provider == row.name or row.name in (r.fallback or [])]
    if users:
        return f"provider {row.name!r} is used by the model routes {', '.join(sorted(users))}; change them first"
    return ""


def _checked(body: dict[str, Any]) -> dict[str, Any]:
    """What the field declarations cannot say: a base_url the HTTP client reads as we do, and no
    credential in the headers (the key variable is checked against the other rows, _check_key)."""
    if "base_url" in body:
        problem = base_url_problem(body["base_url"])
        if problem:
            raise Invalid(problem, "base_url")
    headers = body.get("headers")
    if headers is not None:
        if len(headers) > 30:
            raise Invalid(reason("reason.provider.headers_count"), "headers")
        for key, value in headers.items():
            if not HEADER_NAME.fullmatch(key) or not isinstance(value, str) or len(value) > 1000:
                raise Invalid(reason("reason.provider.header_shape"),
                              f"headers.{key}")
            if SECRET_KEY_PATTERN.search(key):
                raise Invalid(reason("reason.provider.header_secret"), f"headers.{key}")
    return body
