"""Writes what smartbot.toml declares (providers, the model chain) into the database at start.

Rows from the file carry source="config": they are shown read-only in the admin page, updated
when the file changes, and removed when the file no longer lists them. Rows created through the
admin API (source="db") are never touched. Running it twice changes nothing the second time.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa

from . import audit
from .config import Settings
from .db import Database
from .live_config import (MODELS_DEFAULT, MODELS_FALLBACK, PROVIDER_PARAMS, PROVIDERS_VERSION, bump,
                          get_setting, set_setting)
from .models import Provider

log = logging.getLogger(__name__)
_providers = Provider.__table__


def provision(db: Database, settings: Settings) -> list[str]:
    """Apply the file's declarations; returns what changed (also audited)."""
    changes: list[str] = []
    with db.write() as conn:
        db.serialize(conn, "provisioning")
        existing = {r.name: r for r in conn.execute(sa.select(_providers)).all()}
        wanted = {}
        for p in settings.providers:
            params = {k: getattr(p, k) for k in PROVIDER_PARAMS}
            wanted[p.name] = {"kind": p.kind, "base_url": p.base_url, "api_key_env": p.api_key_env,
                              "model": p.model, "params": params, "enabled": p.enabled, "source": "config"}
        for name, values in wanted.items():
            row = existing.get(name)
            if row is None:
                conn.execute(sa.insert(_providers).values(name=name, **values))
                changes.append(f"provider {name} added")
            elif row.source != "config":
                log.warning("provider %s exists in the database (made in the admin page); the file's "
                            "[[providers]] entry of the same name is ignored", name)
            elif any(getattr(row, k) != v for k, v in values.items()):
                conn.execute(sa.update(_providers).where(_providers.c.name == name).values(**values))
                changes.append(f"provider {name} updated")
        for name, row in existing.items():
            if row.source == "config" and name not in wanted:
                conn.execute(sa.delete(_providers).where(_providers.c.name == name))
                changes.append(f"provider {name} removed (no longer in the file)")
        default = settings.models.default or (settings.providers[0].name if settings.providers else "")
        if settings.models.default or not get_setting(conn, MODELS_DEFAULT):
            if default and get_setting(conn, MODELS_DEFAULT) != default:
                set_setting(conn, db, MODELS_DEFAULT, default)
                changes.append(f"default model provider set to {default}")
        if settings.models.fallback and get_setting(conn, MODELS_FALLBACK) != settings.models.fallback:
            set_setting(conn, db, MODELS_FALLBACK, list(settings.models.fallback))
            changes.append("fallback chain set to " + ", ".join(settings.models.fallback))
        if changes:
            bump(conn, db, PROVIDERS_VERSION)
            audit.record(conn, "config.provisioned", "system", "providers", "ok", {"changes": changes})
    for change in changes:
        log.info("provisioned from the config file: %s", change)
    return changes
