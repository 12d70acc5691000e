"""A new PostgreSQL test schema brought to the head revision by replaying what the migrations wrote.

Running every Alembic migration took most of the set-up of a PostgreSQL test (the tests get a schema
each). PostgreSQL cannot copy a schema, so the first seed in a test process runs the migrations once
in a schema of its own while it records every statement that changes something (DDL and writes,
with their parameters, in order; reads are left out, as they change nothing), then drops that
schema. Each later seed replays the recording in one transaction into the test's empty schema. The
statements name no schema (the URL's search_path picks it), so the replay builds what the migrations
build, rows included, as tests/storage/test_migrated_copies.py checks. A schema that has any table
already (the migration tests build theirs step by step) is never touched.
"""
from __future__ import annotations

import threading
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa

_READS = ("select", "show", "with")
_lock = threading.Lock()
_recording: list["_Statement"] | None = None


@dataclass(frozen=True)
class _Statement:
    sql: str
    parameters: Any
    many: bool
    bare: bool          # executed without parameters (no placeholders parsed, `%` taken as is)


def _engine(url: str) -> sa.Engine:
    from smartbot.storage.db import _driver_url

    return sa.create_engine(_driver_url(sa.engine.make_url(url)), poolclass=sa.pool.NullPool)


def _schema_is_empty(url: str) -> bool:
    engine = _engine(url)
    try:
        with engine.connect() as conn:
            return not conn.execute(sa.text(
                "SELECT count(*) FROM information_schema.tables WHERE table_schema = current_schema()")).scalar()
    finally:
        engine.dispose()


def _record_migrations(url: str) -> list[_Statement]:
    """Migrate a throw-away schema beside the test's one, recording what changed it."""
    from smartbot.storage.db import Database

    from .postgres import fresh_schema

    base = sa.engine.make_url(url).difference_update_query(["options"]).render_as_string(hide_password=False)
    statements: list[_Statement] = []
    me = threading.get_ident()

    def record(_conn: Any, _cursor: Any, sql: str, parameters: Any, context: Any, many: bool) -> None:
        if threading.get_ident() == me and not sql.lstrip().lower().startswith(_READS):
            statements.append(_Statement(sql, parameters, many, bool(context is not None and context.no_parameters)))

    with fresh_schema(base) as template:
        sa.event.listen(sa.Engine, "before_cursor_execute", record)
        try:
            database = Database(template)
            database.upgrade()
            database.dispose()
        finally:
            sa.event.remove(sa.Engine, "before_cursor_execute", record)
    return statements


def recorded_migrations(url: str) -> list[_Statement]:
    global _recording
    with _lock:
        if _recording is None:
            _recording = _record_migrations(url)
        return _recording


def seed(url: str) -> None:
    """Bring the PostgreSQL schema `url` names to head when it holds no table yet (else nothing)."""
    if not url.startswith("postgresql") or not _schema_is_empty(url):
        return
    statements = recorded_migrations(url)
    engine = _engine(url)
    try:
        raw = engine.raw_connection()
        try:
            cursor = raw.cursor()
            for statement in statements:
                if statement.many:
                    cursor.executemany(statement.sql, statement.parameters)
                elif statement.bare:
                    cursor.execute(statement.sql)
                else:
                    cursor.execute(statement.sql, statement.parameters)
            raw.commit()
        finally:
            raw.close()
    finally:
        engine.dispose()
