"""The Alembic migrations build exactly the schema the models describe, on an empty database."""
from __future__ import annotations

import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from smartbot.storage.db import head_revision
from smartbot.storage.tables import Base
from smartbot.storage.tables.knowledge import UNMODELLED_TABLES


def test_upgrade_from_empty_reaches_head(db):
    assert db.schema_revision() == head_revision()
    with db.read() as conn:
        tables = set(sa.inspect(conn).get_table_names())
    assert {"users", "identities", "roles", "rules", "providers", "inbox", "outbox", "conversations",
            "conversation_messages", "audit_log", "settings"} <= tables


def test_models_and_migrations_agree(db):
    with db.engine.connect() as conn:
        context = MigrationContext.configure(conn, opts={"include_name": _modelled})
        diff = compare_metadata(context, Base.metadata)
    assert diff == []


def _modelled(name, kind, parent) -> bool:
    """The per-dialect full-text index of the knowledge spaces is made by its migration alone."""
    return not (kind == "table" and name in UNMODELLED_TABLES)


def test_role_templates_and_default_rules_are_seeded(db):
    with db.read() as conn:
        roles = {r.name: r.permissions for r in conn.execute(sa.text("SELECT name, permissions FROM roles"))}
        rules = [r.name for r in conn.execute(sa.text("SELECT name FROM rules ORDER BY position"))]
    assert set(roles) == {"admin", "operator", "user", "guest"}
    assert rules == ["help", "whoami", "reset", "profile", "human", "handoff-agent", "group-not-addressed", "workflow",
                     "commands", "chat"]


def test_upgrade_twice_changes_nothing(db):
    db.upgrade()
    assert db.schema_revision() == head_revision()


def test_head_revision_is_alembics_head():
    """head_revision reads the scripts without Alembic; it must name the head Alembic would."""
    from smartbot.storage import db as db_module

    assert head_revision() == db_module._alembic_head() != ""


def test_head_revision_leaves_anything_but_one_head_to_alembic(tmp_path, monkeypatch):
    from smartbot.storage import db as db_module

    versions = tmp_path / "versions"
    versions.mkdir()
    (versions / "a.py").write_text('revision = "a"\ndown_revision = None\n')
    (versions / "b.py").write_text("revision: str = 'b'\ndown_revision: str | None = 'a'\n")
    monkeypatch.setattr(db_module, "MIGRATIONS_DIR", tmp_path)
    monkeypatch.setattr(db_module, "_alembic_head", lambda: "asked alembic")
    assert head_revision() == "b"
    (versions / "c.py").write_text('revision = "c"\ndown_revision = "a"\n')      # two heads
    assert head_revision() == "asked alembic"
    (versions / "c.py").write_text('revision = "c"\ndown_revision = ("a", "b")\n')     # a merge
    assert head_revision() == "c"


def test_upgrade_in_a_child_process(tmp_path):
    """What the gunicorn master does: the child migrates, the parent sees the schema at head."""
    from smartbot.storage.db import Database

    fresh = Database(f"sqlite:///{tmp_path / 'fresh.db'}")
    assert fresh.schema_revision() is None
    fresh.ensure_schema(True, upgrade_in_child=True)
    assert fresh.schema_revision() == head_revision()
    fresh.dispose()


def test_providers_made_before_key_origins_keep_their_key_at_their_base_url(database_url):
    """0009: a provider from before keeps working: its key counts as confirmed for its base_url."""
    from smartbot.storage.db import Database

    db = Database(database_url)
    try:
        db.upgrade("0008")
        with db.write() as conn:
            for name, url in (("a", "https://api.example.com/v1"), ("b", "http://127.0.0.1:11434")):
                conn.execute(sa.text("INSERT INTO providers (name, kind, base_url, api_key_env, model, params, enabled, "
                                     "source, created_at, updated_at) VALUES (:n, 'openai', :u, 'A_API_KEY', 'm', "
                                     "'{}', true, 'db', 0, 0)"), {"n": name, "u": url})
        db.upgrade()
        with db.read() as conn:
            origins = dict(conn.execute(sa.text("SELECT name, key_origin FROM providers")).all())
        assert origins == {"a": "https://api.example.com:443", "b": "http://127.0.0.1:11434"}
    finally:
        db.dispose()
