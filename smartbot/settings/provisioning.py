"""Writes what smartbot.toml declares (providers, the model chain, model routes, [[commands]],
[[rules]], [[roles]]) into the database at start.

Rows from the file carry source="config": they are shown read-only in the admin page, updated
when the file changes, and removed when the file no longer lists them. Rows created through the
admin API (source="db") are never touched. Running it twice changes nothing the second time.
"""
from __future__ import annotations

import logging
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .. import audit
from .sections import Settings
from ..storage.db import Database
from ..executor.catalogue import check_definition, row_values
from ..llm.keys import origin
from ..assistant.provider_store import MODELS_DEFAULT, MODELS_FALLBACK, PROVIDER_PARAMS, PROVIDERS_VERSION
from ..router.store import RULES_VERSION
from ..storage.runtime_settings import bump, get_setting, set_setting
from ..storage.tables import Command, ModelRoute, Provider, Role, Rule

log = logging.getLogger(__name__)
_providers, _routes, _commands = Provider.__table__, ModelRoute.__table__, Command.__table__
_rules, _roles = Rule.__table__, Role.__table__


def provision(db: Database, settings: Settings) -> list[str]:
    """Apply the file's declarations; returns what changed (also audited)."""
    changes: list[str] = []
    # The file is trusted: its providers' keys are confirmed for their own base_url at every start.
    providers = {p.name: {"kind": p.kind, "base_url": p.base_url, "api_key_env": p.api_key_env, "model": p.model,
                          "key_origin": origin(p.base_url),
                          "params": {k: getattr(p, k) for k in PROVIDER_PARAMS}, "enabled": p.enabled,
                          "source": "config"} for p in settings.providers}
    routes = {r.name: {"provider": r.provider, "match": dict(r.match), "fallback": list(r.fallback),
                       "position": r.position, "cache_ttl": r.cache_ttl, "system_prompt": r.system_prompt,
                       "enabled": r.enabled, "source": "config"} for r in settings.model_routes}
    with db.write() as conn:
        db.serialize(conn, "provisioning")
        _sync(conn, _providers, "provider", providers, changes)
        _sync(conn, _routes, "model route", routes, changes)
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
    changes += _provision_commands(db, settings)
    changes += _provision_access(db, settings)
    for change in changes:
        log.info("provisioned from the config file: %s", change)
    return changes


def _provision_commands(db: Database, settings: Settings) -> list[str]:
    """[[commands]] from the file into the catalogue (checked when the settings were loaded)."""
    wanted = {c.name: row_values(check_definition({**c.definition(), "source": "config"}))
              for c in settings.commands}
    changes: list[str] = []
    with db.write() as conn:
        db.serialize(conn, "provisioning")
        _sync(conn, _commands, "command", wanted, changes)
        if changes:
            audit.record(conn, "config.provisioned", "system", "commands", "ok", {"changes": changes})
    return changes


def _provision_access(db: Database, settings: Settings) -> list[str]:
    """[[rules]] and [[roles]] from the file; a rule change bumps the rules version (no restart)."""
    rules = {r.name: {"position": r.position, "enabled": r.enabled, "match": dict(r.match), "action": r.action,
                      "params": dict(r.params), "source": "config"} for r in settings.rules}
    roles = {r.name: {"description": r.description, "permissions": list(r.permissions), "chat_scope": r.chat_scope,
                      "is_template": False, "source": "config"} for r in settings.roles}
    rule_changes: list[str] = []
    role_changes: list[str] = []
    with db.write() as conn:
        db.serialize(conn, "provisioning")
        _sync(conn, _rules, "rule", rules, rule_changes)
        _sync(conn, _roles, "role", roles, role_changes)
        if rule_changes:
            bump(conn, db, RULES_VERSION)
        if rule_changes or role_changes:
            audit.record(conn, "config.provisioned", "system", "rules and roles", "ok",
                         {"changes": rule_changes + role_changes})
    return rule_changes + role_changes


def _sync(conn: Connection, table: sa.Table, what: str, wanted: dict[str, dict[str, Any]],
          changes: list[str]) -> None:
    """Make the file's rows of `table` (by name) exactly `wanted`, leaving rows made in the admin page alone."""
    existing = {r.name: r for r in conn.execute(sa.select(table)).all()}
    for name, values in wanted.items():
        row = existing.get(name)
        if row is None:
            conn.execute(sa.insert(table).values(name=name, **values))
            changes.append(f"{what} {name} added")
        elif row.source != "config":
            log.warning("%s %s exists in the database (made in the admin page); the file's entry of the "
                        "same name is ignored", what, name)
        elif any(getattr(row, k) != v for k, v in values.items()):
            conn.execute(sa.update(table).where(table.c.name == name).values(**values))
            changes.append(f"{what} {name} updated")
    for name, row in existing.items():
        if row.source == "config" and name not in wanted:
            conn.execute(sa.delete(table).where(table.c.name == name))
            changes.append(f"{what} {name} removed (no longer in the file)")
