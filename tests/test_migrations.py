"""The Alembic migrations build exactly the schema the models describe, on an empty database."""
from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from smartbot.db import head_revision
from smartbot.models import Base


def test_upgrade_from_empty_reaches_head(db):
    assert db.schema_revision() == head_revision()
    with db.read() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"users", "identities", "roles", "rules", "providers", "inbox", "outbox", "conversations",
            "conversation_messages", "audit_log", "settings"} <= tables


def test_models_and_migrations_agree(db):
    with db.engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), Base.metadata)
    assert diff == []


def test_role_templates_and_default_rules_are_seeded(db):
    with db.read() as conn:
        roles = {r.name: r.permissions for r in conn.execute(sa.text("SELECT name, permissions FROM roles"))}
        rules = [r.name for r in conn.execute(sa.text("SELECT name FROM rules ORDER BY position"))]
    assert set(roles) == {"admin", "operator", "user", "guest"}
    assert rules == ["help", "whoami", "reset", "group-not-addressed", "workflow", "commands", "chat"]


def test_upgrade_twice_changes_nothing(db):
    db.upgrade()
    assert db.schema_revision() == head_revision()
