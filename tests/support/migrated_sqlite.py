"""A migrated SQLite database made once per test process and copied to where a test's app is about to
start on a database file that does not exist yet.

Running every migration was most of the time an app took to start, and the suite starts an app in
most of its tests. The copy is what `Database.upgrade()` leaves in a new file, so the app starts as on
a database it migrated itself. Tests of the migrations themselves (tests/storage/test_migrations.py,
the partial upgrades in the security tests) make their files as before: a file that exists already
is never replaced.
"""
from __future__ import annotations

import atexit
import shutil
import sqlite3
import tempfile
import threading
from pathlib import Path

_lock = threading.Lock()
_template: Path | None = None


def _migrated_template() -> Path:
    global _template
    with _lock:
        if _template is None:
            from smartbot.storage.db import Database

            folder = Path(tempfile.mkdtemp(prefix="smartbot-migrated-"))
            atexit.register(shutil.rmtree, folder, True)
            path = folder / "template.db"
            database = Database(f"sqlite:///{path}")
            database.upgrade()
            database.dispose()
            with sqlite3.connect(path) as conn:     # one self-contained file (no -wal beside it) to copy
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
                conn.execute("PRAGMA journal_mode=DELETE")
            _template = path
        return _template


def seed(url: str) -> None:
    """Put a migrated copy where `url` points when that is a SQLite file (absolute path) not made yet."""
    from smartbot.storage.db import sqlite_file

    name = sqlite_file(url or "")
    path = Path(name) if name else None
    if path is None or not path.is_absolute() or path.exists() or not path.parent.is_dir():
        return
    shutil.copyfile(_migrated_template(), path)
