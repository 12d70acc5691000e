"""SQLite's WAL is copied into the database file by the upkeep thread, not by whichever commit
happens to take it past SQLite's threshold while every other writer waits for its fsync."""
from __future__ import annotations

import shutil
import sqlite3
import time
from pathlib import Path

from tests.conftest import GENERIC_SECRET


def _rows_in_the_database_file(db_file: Path, scratch: Path) -> int:
    """Inbox rows in the main file alone: what checkpoints have copied there (the WAL left out)."""
    shutil.copyfile(db_file, scratch)
    try:
        with sqlite3.connect(scratch) as conn:
            return conn.execute("SELECT COUNT(*) FROM inbox").fetchone()[0]
    except sqlite3.DatabaseError:      # copied while a checkpoint was writing it: look again
        return -1
    finally:
        scratch.unlink()


def test_the_upkeep_checkpoints_the_wal(live_app, fake_platform, tmp_path):
    db_file = tmp_path / "checkpoint.db"
    app = live_app({"database_url": f"sqlite:///{db_file}",
                    "channels": {"generic": {"secret": GENERIC_SECRET, "callback_url": fake_platform.hook_url}},
                    "jobs": {"sweep_seconds": 0.2}, "quotas": {"messages_per_minute_per_role": {}}})
    for i in range(30):
        assert app.post_generic({"event_id": f"ck-{i}", "chat_id": "c", "user_id": "u", "text": "/help"}
                                ).status_code == 200
    assert len(fake_platform.wait_for(30, 20)) == 30
    # far below the backstop threshold: only the upkeep's checkpoint puts them in the file
    deadline = time.monotonic() + 10
    found = 0
    while time.monotonic() < deadline and found < 30:
        found = _rows_in_the_database_file(db_file, tmp_path / "copy.db")
        time.sleep(0.2)
    assert found == 30
