"""Routing rules: created, changed and removed at run time; each change bumps the rules version so
every process routes with the new rules within a second, no restart."""
from __future__ import annotations

import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Connection, Row

from ..i18n.reasons import reason
from ..storage.db import Database
from ..router.store import RULES_VERSION
from ..storage.runtime_settings import bump
from ..storage.tables import Rule
from ..router.engine import validate_rule
from . import changes
from .errors import Conflict, Invalid, NotFound

_rules = Rule.__table__
FIELDS = ("name", "position", "enabled", "match", "action", "params")


def _view(row: Row[Any]) -> dict[str, Any]:
    return {"id": row.id, **{k: getattr(row, k) for k in FIELDS}, "source": row.source}


def _row(conn: Connection, rule_id: int) -> Row[Any]:
    row = conn.execute(sa.select(_rules).where(_rules.c.id == rule_id)).first()
    if row is None:
        raise NotFound(reason("reason.rule.missing", id=rule_id))
    return row


def _validate(match: Any, action: str) -> None:
    problems = validate_rule(match, action)
    if problems:
        raise Invalid(reason("reason.joined", items=tuple(problems)), "action" if any("action" in p for p in problems) else "match")


def list_rules(db: Database) -> list[dict[str, Any]]:
    with db.read() as conn:
        return [_view(r) for r in conn.execute(sa.select(_rules).order_by(_rules.c.position, _rules.c.id)).all()]


def create_rule(db: Database, actor: str, data: dict[str, Any]) -> dict[str, Any]:
    _validate(data.get("match", {}), data["action"])
    with db.write() as conn:
        if conn.execute(sa.select(_rules.c.id).where(_rules.c.name == data["name"])).first():
            raise Conflict(reason("reason.rule.exists", name=repr(data['name'])), "name")
        now = time.time()
        rule_id = conn.execute(sa.insert(_rules).values(
            name=data["name"], position=data.get("position", 100), enabled=data.get("enabled", True),
            match=data.get("match", {}), action=data["action"], params=data.get("params", {}), source="db",
            created_at=now, updated_at=now).returning(_rules.c.id)).scalar_one()
        bump(conn, db, RULES_VERSION)
        after = _view(_row(conn, rule_id))
        changes.record(conn, actor, "rule.create", f"rule:{data['name']}", None, after)
    return after


def update_rule(db: Database, actor: str, rule_id: int, data: dict[str, Any]) -> dict[str, Any]:
    with db.write() as conn:
        row = _row(conn, rule_id)
        if row.source == "config":
            raise Conflict(reason("reason.rule.from_config_change"))
        before = _view(row)
        merged = {**before, **data}
        _validate(merged["match"], merged["action"])
        if "name" in data and data["name"] != row.name and \
                conn.execute(sa.select(_rules.c.id).where(_rules.c.name == data["name"])).first():
            raise Conflict(reason("reason.rule.exists", name=repr(data['name'])), "name")
        conn.execute(sa.update(_rules).where(_rules.c.id == rule_id).values(
            **{k: data[k] for k in FIELDS if k in data}, updated_at=time.time()))
        bump(conn, db, RULES_VERSION)
        after = _view(_row(conn, rule_id))
        changes.record(conn, actor, "rule.update", f"rule:{after['name']}", before, after)
    return after


def delete_rule(db: Database, actor: str, rule_id: int) -> None:
    with db.write() as conn:
        row = _row(conn, rule_id)
        if row.source == "config":
            raise Conflict(reason("reason.rule.from_config_remove"))
        conn.execute(sa.delete(_rules).where(_rules.c.id == rule_id))
        bump(conn, db, RULES_VERSION)
        changes.record(conn, actor, "rule.delete", f"rule:{row.name}", _view(row), None)
