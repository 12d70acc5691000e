"""SQLite busy/locked under concurrent writers: two gunicorn workers take a burst of webhooks and
answer it while a separate process keeps taking SQLite's write lock for up to half a second at a
time. No webhook gets a 500, no message or reply is lost, none of the other writer's rows either."""
from __future__ import annotations

import json
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

from smartbot.db import sqlite_file
from tests.support.burst import Burst, message, wait_answered

ROOT = Path(__file__).resolve().parent.parent


def test_webhooks_and_another_process_holding_write_locks_lose_nothing(gunicorn_app, make_config, fake_model,
                                                                       fake_platform):
    app = gunicorn_app(make_config(model=fake_model), workers=2)
    path = sqlite_file(app.config["database_url"])
    writer = subprocess.Popen([sys.executable, "-m", "tests.support.sqlite_writer", path, "3"], cwd=ROOT,
                              stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)                      # the writer is in its first transaction
    count = 240
    burst = Burst(app.url, app.secret, [message(i, 15, "busy") for i in range(count)], threads=8,
                  pace=0.08).start()
    burst.join(90)
    out, _ = writer.communicate(timeout=60)
    report = json.loads(out)
    result = wait_answered(lambda: fake_platform.wait_for(0, 0), burst.acked, 60)
    print(f"\nwebhook answers: {dict(burst.statuses)}; other writer: {report['commits']} commits, "
          f"errors {report['errors'][:3]}")
    assert dict(burst.statuses) == {200: count}, burst.statuses
    assert result.unanswered == [] and result.answered_twice == {}, result.unanswered[:10]
    assert report["errors"] == [] and report["commits"] > 10
    with sqlite3.connect(path) as conn:
        numbers = [r[0] for r in conn.execute("SELECT n FROM writer_rows ORDER BY n")]
        inbox = conn.execute("SELECT COUNT(*) FROM inbox WHERE event_id LIKE 'busy-%'").fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert numbers == list(range(report["commits"]))
    assert inbox == count
