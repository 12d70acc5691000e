"""What ties the model service to the rest of one process: it is built from the settings, its
provider state changes become audit events, and a health thread probes the providers. llm/ knows
no database; this module does the writing for it. (Usage is not written here: each answer carries
its own, and whoever asked records it with what it stores; see usage.py.)

Never lets a failed write fail a call (the service's signals log a receiver that raises and carry on).
"""
from __future__ import annotations

import logging
from typing import Any, Mapping

from .. import audit
from ..settings.sections import Settings
from ..storage.db import Database
from .provider_store import ProviderStore
from ..llm.breaker import BreakerPolicy
from ..llm.health import HealthMonitor
from ..llm.keys import KeyRules
from ..llm.service import ModelService

log = logging.getLogger(__name__)


def build_service(settings: Settings, env: Mapping[str, str], pool_size: int, store: Any = None) -> ModelService:
    models = settings.models
    policy = BreakerPolicy(models.breaker_failures, models.breaker_window, models.breaker_cooldown)
    return ModelService(env, pool_size=pool_size, breaker=policy, cache_entries=models.cache_max_entries,
                        cache_store=store, key_rules=key_rules(settings))


def key_rules(settings: Settings) -> KeyRules:
    """The deployment's rules for provider key variables (see llm/keys.py)."""
    return KeyRules(patterns=tuple(settings.security.provider_key_envs), is_server_secret=settings.is_server_secret,
                    file_variables=frozenset(p.api_key_env for p in settings.providers if p.api_key_env))


def connect(service: ModelService, db: Database, providers: ProviderStore, settings: Settings) -> HealthMonitor:
    """Wire the service's signals to the database; returns the (not yet started) health thread."""

    def provider_down(name: str, reason: str) -> None:
        with db.write() as conn:
            audit.record(conn, "provider.down", "system", name, "error", {"reason": reason})

    def provider_up(name: str) -> None:
        with db.write() as conn:
            audit.record(conn, "provider.up", "system", name, "ok")

    service.on_provider_down.connect(provider_down)
    service.on_provider_up.connect(provider_up)
    return HealthMonitor(service, providers.all_specs, settings.models.health_interval)
