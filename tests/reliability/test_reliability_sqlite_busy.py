"""SQLite busy/locked under concurrent writers: two gunicorn workers take a burst of webhooks and
answer it while a separate process keeps taking SQLite's write lock for up to half a second at a
time. No webhook gets a 500, no message or reply is lost, none of the other writer's rows either.
The long version is bench/reliability_faults.py busy."""
from __future__ import annotations

import sqlite3

from smartbot.storage.db import sqlite_file
from tests.support.fault_scenarios import busy_writer_burst


def test_webhooks_and_another_process_holding_write_locks_lose_nothing(gunicorn_app, make_config, fake_model,
                                                                       fake_platform):
    app = gunicorn_app(make_config(model=fake_model), workers=2)
    path = sqlite_file(app.config["database_url"])
    count = 240
    report = busy_writer_burst(app, fake_platform, path, count, writer_seconds=3, pace=0.08)
    print("\n" + "\n".join(report.lines()))
    result, commits = report.result, report.extra["other writer commits"]
    assert report.statuses == {200: count}, report.statuses
    assert result.unanswered == [] and result.answered_twice == {}, result.unanswered[:10]
    assert report.extra["other writer errors"] == [] and commits >= 3
    with sqlite3.connect(path) as conn:
        numbers = [r[0] for r in conn.execute("SELECT n FROM writer_rows ORDER BY n")]
        inbox = conn.execute("SELECT COUNT(*) FROM inbox WHERE event_id LIKE 'busy-%'").fetchone()[0]
        assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    assert numbers == list(range(commits))
    assert inbox == count
