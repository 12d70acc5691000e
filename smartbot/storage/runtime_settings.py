"""Settings that admins change at run time, kept in the database's `settings` table, and the
version counters that tell every process a part of the configuration changed (it reads the part
again when its counter moves)."""
from __future__ import annotations

import time
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import Database
from .tables import Setting

_settings = Setting.__table__

# Built once: building a statement per call (and its cache key) costs more than running it.
_GET_SETTING = sa.select(_settings.c.value).where(_settings.c.key == sa.bindparam("key"))


def get_setting(conn: Connection, key: str, default: Any = None) -> Any:
    row = conn.execute(_GET_SETTING, {"key": key}).first()
    return default if row is None else row.value


def set_setting(conn: Connection, db: Database, key: str, value: Any) -> None:
    now = time.time()
    res = conn.execute(sa.update(_settings).where(_settings.c.key == key).values(value=value, updated_at=now))
    if res.rowcount == 0:
        conn.execute(db.insert_ignore(_settings).values(key=key, value=value, updated_at=now))


def bump(conn: Connection, db: Database, key: str) -> None:
    set_setting(conn, db, key, int(get_setting(conn, key, 0) or 0) + 1)


def version_reader(db: Database, key: str) -> Callable[[], int]:
    def read() -> int:
        with db.read() as conn:
            return int(get_setting(conn, key, 0) or 0)
    return read
