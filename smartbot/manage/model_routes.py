"""Model routes at run time: which provider chain answers which chat messages.

A route matches like a routing rule and names a provider, its fallbacks, an optional cache TTL
(FAQ-style answers) and an optional system prompt. Routes from smartbot.toml are read-only here.
Every change is audited with before/after and takes effect on the next message.
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..auth.rbac import Principal
from ..assistant.provider_store import PROVIDERS_VERSION
from ..assistant.routes import CACHE_TTL_MAX, match_problems
from ..i18n.reasons import reason
from ..storage.tables import ModelRoute, Provider
from .errors import Invalid
from .fields import Bool, Int, List, Num, Obj, Str
from .named_rows import NamedRows
from .providers import NAME

_routes, _providers = ModelRoute.__table__, Provider.__table__

ROUTE_FIELDS = {
    "provider": Str(required=True, pattern=NAME, max_length=100, description="the provider that answers first"),
    "match": Obj(description="channel, chat_id, role, command, chat_type, mentioned, prefix, regex, keywords, "
                             "min_length, max_length; all must hold; {} matches everything"),
    "fallback": List(item=Str(pattern=NAME, max_length=100), max_items=10,
                     description="providers to try next, before the default chain"),
    "position": Int(minimum=0, maximum=1_000_000, description="lower positions are tried first"),
    "cache_ttl": Num(minimum=0, maximum=CACHE_TTL_MAX,
                     description="seconds to reuse the answer to the same question (no history sent); 0 = off"),
    "system_prompt": Str(max_length=4000, description="{bot_name} and {language} are filled in"),
    "enabled": Bool(),
}
CREATE_FIELDS = {"name": Str(required=True, pattern=NAME, max_length=100), **ROUTE_FIELDS}
COLUMNS = tuple(ROUTE_FIELDS)


def route_config(row: Row[Any]) -> dict[str, Any]:
    return {"name": row.name, "provider": row.provider, "match": row.match or {}, "fallback": list(row.fallback or []),
            "position": row.position, "cache_ttl": row.cache_ttl, "system_prompt": row.system_prompt,
            "enabled": row.enabled, "source": row.source}


ROUTES = NamedRows(_routes, "model route", "model_route", PROVIDERS_VERSION, route_config)


def listing(db: Any) -> list[dict[str, Any]]:
    """Every route, in the order they are tried."""
    return sorted(ROUTES.all(db), key=lambda r: (r["position"], r["name"]))


def get(db: Any, name: str) -> dict[str, Any]:
    return route_config(ROUTES.one(db, name))


def create(runtime: Any, caller: Principal, body: dict[str, Any]) -> dict[str, Any]:
    body = _checked(runtime.db, body)
    values = {"match": {}, "fallback": [], "position": 100, "cache_ttl": 0.0, "system_prompt": "", "enabled": True}
    values.update({k: body[k] for k in COLUMNS if k in body})
    return ROUTES.create(runtime, caller, body["name"], values)


def update(runtime: Any, caller: Principal, name: str, body: dict[str, Any]) -> dict[str, Any]:
    body = _checked(runtime.db, body)
    return ROUTES.update(runtime, caller, name, lambda row: {k: body[k] for k in COLUMNS if k in body})


def delete(runtime: Any, caller: Principal, name: str) -> None:
    ROUTES.delete(runtime, caller, name)


def _checked(db: Any, body: dict[str, Any]) -> dict[str, Any]:
    if "match" in body:
        problems = match_problems(body["match"])
        if problems:
            raise Invalid(reason("reason.joined", items=tuple(problems)), "match")
    named = [("provider", body["provider"])] if "provider" in body else []
    named += [(f"fallback[{i}]", n) for i, n in enumerate(body.get("fallback") or [])]
    if named:
        with db.read() as conn:
            known = set(conn.execute(sa.select(_providers.c.name)).scalars())
        for field_name, name in named:
            if name not in known:
                raise Invalid(reason("reason.provider.unknown", name=repr(name)), field_name)
    return body
