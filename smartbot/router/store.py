"""The routing rules as the router reads them: the enabled rules in order, with the version counter
that tells every process to read them again after a change."""
from __future__ import annotations

import logging

import sqlalchemy as sa

from ..storage.db import Database
from ..storage.runtime_settings import get_setting
from ..storage.tables import Rule
from .engine import RuleView

log = logging.getLogger(__name__)

_rules = Rule.__table__
RULES_VERSION = "rules.version"


def load_rules(db: Database) -> tuple[int, list[RuleView]]:
    with db.read() as conn:
        version = int(get_setting(conn, RULES_VERSION, 0) or 0)
        rows = conn.execute(sa.select(_rules).where(_rules.c.enabled.is_(True))
                            .order_by(_rules.c.position, _rules.c.id)).all()
    rules = []
    for r in rows:
        try:
            rules.append(RuleView.build(r.name, r.position, r.match or {}, r.action, r.params or {}))
        except ValueError as exc:
            log.error("skipping invalid rule: %s", exc)
    return version, rules
