"""A fresh PostgreSQL schema per test, so tests never see each other's rows."""
from __future__ import annotations

import contextlib
import time
import uuid
from typing import Iterator
from urllib.parse import quote

import sqlalchemy as sa


@contextlib.contextmanager
def fresh_schema(base_url: str) -> Iterator[str]:
    schema = "t_" + uuid.uuid4().hex[:12]
    admin = sa.create_engine(base_url.replace("postgresql://", "postgresql+psycopg://", 1), isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE SCHEMA "{schema}"'))
    joiner = "&" if "?" in base_url else "?"
    try:
        yield f"{base_url}{joiner}options={quote(f'-csearch_path={schema}')}"
    finally:
        _drop(admin, schema)
        admin.dispose()


def _drop(admin: sa.Engine, schema: str, attempts: int = 3) -> None:
    """Drop the test's schema. Fixtures stop the apps first; a connection some test left behind can
    still hold a row lock, and PostgreSQL may pick the DROP as a deadlock's victim: try again then."""
    for attempt in range(attempts):
        try:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP SCHEMA "{schema}" CASCADE'))
            return
        except sa.exc.OperationalError as exc:
            if "deadlock" not in str(exc) or attempt == attempts - 1:
                raise
            time.sleep(0.5)
