"""The migrated databases the fixtures hand out quickly (a copied SQLite file, a replay of the
migrations' statements on PostgreSQL) are what running the migrations builds: the same tables,
columns, indexes, constraints, sequences and rows."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa

from smartbot.storage.db import Database
from tests.support import migrated_postgres, migrated_sqlite

DB_URL = os.environ.get("SMARTBOT_TEST_DATABASE_URL")


def _rows(conn: sa.Connection, tables: list[str]) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, without the columns that hold when a row was written."""
    found = {}
    for table in tables:
        result = conn.execute(sa.text(f'SELECT * FROM "{table}"'))
        keep = [i for i, name in enumerate(result.keys()) if not name.endswith("_at")]
        found[table] = sorted((tuple(repr(row[i]) for i in keep) for row in result), key=repr)
    return found


def _postgres_picture(url: str) -> dict[str, Any]:
    database = Database(url)
    try:
        with database.read() as conn:
            schema = conn.execute(sa.text("SELECT current_schema()")).scalar()

            def rows(sql: str) -> list[tuple[Any, ...]]:
                return [tuple(str(v).replace(f"{schema}.", "") for v in row)
                        for row in conn.execute(sa.text(sql), {"s": schema})]
            tables = [name for (name,) in rows("SELECT table_name FROM information_schema.tables "
                                              "WHERE table_schema = :s ORDER BY 1")]
            return {
                "columns": rows("SELECT table_name, column_name, data_type, is_nullable, column_default "
                                "FROM information_schema.columns WHERE table_schema = :s ORDER BY 1, 2"),
                "indexes": rows("SELECT tablename, indexname, indexdef FROM pg_indexes WHERE schemaname = :s "
                                "ORDER BY 1, 2"),
                "constraints": rows("SELECT conrelid::regclass::text, conname, pg_get_constraintdef(oid) "
                                    "FROM pg_constraint WHERE connamespace = CAST(:s AS regnamespace) ORDER BY 1, 2"),
                "functions": rows("SELECT proname, prosrc FROM pg_proc WHERE pronamespace = CAST(:s AS regnamespace) "
                                  "ORDER BY 1"),
                "triggers": rows("SELECT tgrelid::regclass::text, tgname FROM pg_trigger t JOIN pg_class c "
                                 "ON c.oid = t.tgrelid WHERE c.relnamespace = CAST(:s AS regnamespace) "
                                 "AND NOT t.tgisinternal ORDER BY 1, 2"),
                "sequences": [(name, conn.execute(sa.text(f'SELECT last_value, is_called FROM "{name}"')).one())
                              for (name,) in rows("SELECT sequence_name FROM information_schema.sequences "
                                                  "WHERE sequence_schema = :s ORDER BY 1")],
                "rows": _rows(conn, tables),
            }
    finally:
        database.dispose()


@pytest.mark.skipif(not DB_URL, reason="needs SMARTBOT_TEST_DATABASE_URL (PostgreSQL); .ci/run sets it")
def test_a_replayed_postgresql_schema_is_what_the_migrations_build():
    from tests.support.postgres import fresh_schema

    with fresh_schema(DB_URL) as migrated, fresh_schema(DB_URL) as replayed:
        database = Database(migrated)
        database.upgrade()
        database.dispose()
        migrated_postgres.seed(replayed)
        expected, got = _postgres_picture(migrated), _postgres_picture(replayed)
    assert expected["rows"]["alembic_version"] and expected["rows"]["roles"]
    for part in expected:
        assert got[part] == expected[part], part


@pytest.mark.skipif(not DB_URL, reason="needs SMARTBOT_TEST_DATABASE_URL (PostgreSQL); .ci/run sets it")
def test_a_postgresql_schema_with_tables_is_left_alone():
    from tests.support.postgres import fresh_schema

    with fresh_schema(DB_URL) as url:
        database = Database(url)
        database.upgrade("0001")
        migrated_postgres.seed(url)
        assert database.schema_revision() == "0001"
        database.dispose()


def test_a_copied_sqlite_file_is_what_the_migrations_build(tmp_path: Path):
    migrated, copied = tmp_path / "migrated.db", tmp_path / "copied.db"
    Database(f"sqlite:///{migrated}").upgrade()
    migrated_sqlite.seed(f"sqlite:///{copied}")
    pictures = []
    for path in (migrated, copied):
        engine = sa.create_engine(f"sqlite:///{path}")
        with engine.connect() as conn:
            schema = sorted(conn.execute(sa.text("SELECT type, name, sql FROM sqlite_master")).all())
            pictures.append((schema, _rows(conn, [row.name for row in schema if row.type == "table"])))
        engine.dispose()
    assert pictures[0] == pictures[1]


def test_an_existing_sqlite_file_is_never_replaced(tmp_path: Path):
    path = tmp_path / "mine.db"
    path.write_bytes(b"")
    migrated_sqlite.seed(f"sqlite:///{path}")
    assert path.read_bytes() == b""
