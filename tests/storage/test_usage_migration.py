"""0015: usage is kept per model. Rows from before get the model their provider names, and going
back to 0014 merges a user's rows of one provider and day again, their sums kept."""
from __future__ import annotations

import sqlalchemy as sa
from alembic import command

from smartbot.storage.db import Database, alembic_config

ROW = ("INSERT INTO model_usage (day, user_key, provider, {model}calls, prompt_tokens, completion_tokens, cost, "
       "updated_at) VALUES (:day, :user, :provider, {value}:calls, :calls, :calls, :cost, 0)")


def _rows(db: Database) -> list[tuple]:
    with db.read() as conn:
        return [tuple(r) for r in conn.execute(sa.text(
            "SELECT day, user_key, provider, calls, prompt_tokens, cost FROM model_usage ORDER BY day, provider"))]


def test_usage_rows_from_before_get_their_providers_model_and_merge_again_on_the_way_back(database_url):
    db = Database(database_url)
    try:
        db.upgrade("0014")
        with db.write() as conn:
            conn.execute(sa.text("INSERT INTO providers (name, kind, base_url, api_key_env, model, params, enabled, "
                                 "source, created_at, updated_at, key_origin) VALUES ('main', 'openai', "
                                 "'http://127.0.0.1:9/v1', '', 'gpt-x', '{}', true, 'db', 0, 0, '')"))
            for provider in ("main", "gone"):
                conn.execute(sa.text(ROW.format(model="", value="")),
                             {"day": "2026-12-01", "user": "alice", "provider": provider, "calls": 2, "cost": 0.5})
        db.upgrade()
        with db.read() as conn:
            models = dict(conn.execute(sa.text("SELECT provider, model FROM model_usage")).all())
        assert models == {"main": "gpt-x", "gone": ""}
        with db.write() as conn:        # the same user, provider and day, answered by another model
            conn.execute(sa.text(ROW.format(model="model, ", value="'gpt-y', ")),
                         {"day": "2026-12-01", "user": "alice", "provider": "main", "calls": 3, "cost": 0.25})
        command.downgrade(alembic_config(database_url), "0014")
        assert _rows(db) == [("2026-12-01", "alice", "gone", 2, 2, 0.5), ("2026-12-01", "alice", "main", 5, 5, 0.75)]
    finally:
        db.dispose()
