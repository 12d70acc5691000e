"""The providers, the active model chain and the model routes, read from the database and read
again when their version counter (`providers.version`, one for all three) moves, so every process
notices a change made in the admin page within a second, without a restart."""
from __future__ import annotations

import logging
import threading
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..storage.db import Database
from ..auth.rbac import Principal
from ..llm.base import ProviderSpec
from ..messages import InboundMessage
from .routes import ModelChoice, RouteSpec, chain_for, pick
from ..storage.tables import ModelRoute, Provider
from ..storage.runtime_settings import get_setting

log = logging.getLogger(__name__)

_providers, _routes = Provider.__table__, ModelRoute.__table__
PROVIDERS_VERSION = "providers.version"
MODELS_DEFAULT = "models.default"
MODELS_FALLBACK = "models.fallback"
PROVIDER_PARAMS = ("connect_timeout", "read_timeout", "total_timeout", "max_retries", "max_tokens",
                   "temperature", "headers", "prompt_price_per_1k", "completion_price_per_1k", "vision")


def spec_from_row(row: Row[Any]) -> ProviderSpec:
    params = dict(row.params or {})
    headers = params.pop("headers", {}) or {}
    known = {k: params[k] for k in PROVIDER_PARAMS if k in params and k != "headers"}
    return ProviderSpec(name=row.name, kind=row.kind, base_url=row.base_url, model=row.model,
                        api_key_env=row.api_key_env or "", headers=tuple(sorted(headers.items())),
                        key_origin=row.key_origin or "", from_file=row.source == "config", **known)


def effective_default(chosen: str, enabled: list[str]) -> str:
    """The provider messages go to first: the one an admin chose while it is enabled, else the
    first enabled one (oldest first), so that a single provider is the default without a choice."""
    if chosen in enabled:
        return chosen
    return enabled[0] if enabled else ""


def route_from_row(row: Row[Any]) -> RouteSpec:
    return RouteSpec.build(row.name, row.provider, row.match, row.fallback or (), row.position, row.cache_ttl,
                           row.system_prompt)


class ProviderStore:
    """The provider chain to use now: the default provider, then the fallbacks, all enabled; and
    the model routes that pick another chain for some messages."""

    def __init__(self, db: Database, check_every: float = 1.0) -> None:
        self._db = db
        self._check_every = check_every
        self._lock = threading.Lock()
        self._version = -1
        self._checked_at = 0.0
        self._chain: list[ProviderSpec] = []
        self._all: dict[str, ProviderSpec] = {}
        self._routes: list[RouteSpec] = []

    def chain(self) -> list[ProviderSpec]:
        self._fresh()
        return self._chain

    def all_specs(self) -> list[ProviderSpec]:
        """Every enabled provider (health checks look at all of them, not only the chain)."""
        self._fresh()
        return list(self._all.values())

    def spec(self, name: str) -> ProviderSpec | None:
        self._fresh()
        return self._all.get(name)

    def select(self, msg: InboundMessage, principal: Principal, conn: Connection | None = None,
               route_name: str = "") -> ModelChoice:
        """The chain for this message: the route named `route_name` (a chat's profile chose it) while
        it is enabled, else the first matching model route's, else the default.

        Given the caller's read transaction, the version is checked in it (one primary-key read):
        a provider switched in any process then applies from the very next message."""
        if conn is None:
            self._fresh()
        elif int(get_setting(conn, PROVIDERS_VERSION, 0) or 0) != self._version:
            with self._lock:
                self._refresh(conn)
        default, routes, specs = self._chain, self._routes, self._all
        named = [r for r in routes if r.name == route_name] if route_name else []
        route = named[0] if named else pick(routes, msg, principal)
        if route is None:
            return ModelChoice(default)
        return ModelChoice(chain_for(route, specs, default), route.name, route.cache_ttl, route.system_prompt)

    def invalidate(self) -> None:
        """Re-read on the next use (this process just changed the tables)."""
        self._checked_at = 0.0
        self._version = -1

    def _fresh(self) -> None:
        now = time.monotonic()
        if now - self._checked_at >= self._check_every:
            with self._lock:
                if now - self._checked_at >= self._check_every:
                    with self._db.read() as conn:
                        self._refresh(conn)
                    self._checked_at = now

    def _refresh(self, conn: Connection) -> None:
        version = int(get_setting(conn, PROVIDERS_VERSION, 0) or 0)
        if version == self._version:
            return
        rows = conn.execute(sa.select(_providers).where(_providers.c.enabled.is_(True))
                            .order_by(_providers.c.id)).all()
        default = get_setting(conn, MODELS_DEFAULT, "") or ""
        fallback = get_setting(conn, MODELS_FALLBACK, []) or []
        route_rows = conn.execute(sa.select(_routes).where(_routes.c.enabled.is_(True))
                                  .order_by(_routes.c.position, _routes.c.id)).all()
        specs = {r.name: spec_from_row(r) for r in rows}
        first = effective_default(default, [r.name for r in rows])
        names = [first] if first else []
        names += [n for n in fallback if n in specs and n not in names]
        routes = []
        for row in route_rows:
            try:
                routes.append(route_from_row(row))
            except ValueError as exc:
                log.error("skipping invalid model route: %s", exc)
        self._all, self._routes = specs, routes
        self._chain = [specs[n] for n in names]
        self._version = version
