"""Disk full on the database volume: a real small tmpfs holds the SQLite file, a filler file takes
the rest of it. Webhooks then get 503 with a reason (so the platform retries), never a 500; the
database stays intact (`PRAGMA integrity_check`); when space returns, the retried messages are
accepted and every message, including those accepted just before the disk filled, gets one reply."""
from __future__ import annotations

import sqlite3
import time
from pathlib import Path

from sqlalchemy import event

from tests.support.burst import message, wait_answered
from tests.support.volume import fill
from tests.support.waiting import wait_until

BIG = "x" * 8000        # big messages fill what is left of the volume quickly


def _integrity(db_file: Path) -> str:
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        return conn.execute("PRAGMA integrity_check").fetchone()[0]
    finally:
        conn.close()


def _rows(db_file: Path, event_ids: list[str]) -> list[tuple]:
    """What the database says about these messages and their replies (for a failure message)."""
    conn = sqlite3.connect(f"file:{db_file}?mode=ro", uri=True)
    try:
        return [conn.execute("SELECT i.event_id, i.status, i.owner, i.attempts, i.last_error, o.status, o.attempts "
                             "FROM inbox i LEFT JOIN outbox o ON o.inbox_id = i.id WHERE i.event_id = ?",
                             (e,)).fetchall() for e in event_ids]
    finally:
        conn.close()


def _full_then_space_again(app, platform, db_file: Path, fill, free) -> None:
    """Messages before the disk fills, while it is full (503s), and retried after space returns."""
    messages = [{**message(i, 5, "full"), "text": f"m{i} {BIG}"} for i in range(200)]
    accepted = [m["event_id"] for m in messages[:5] if app.post_generic(m).status_code == 200]
    assert len(accepted) == 5
    fill()
    refused, statuses = [], []
    for m in messages[5:]:
        resp = app.post_generic(m)
        statuses.append(resp.status_code)
        if resp.status_code == 200:
            accepted.append(m["event_id"])
            continue
        refused.append(m)
        assert resp.status_code == 503, (resp.status_code, resp.text)
        assert "full" in resp.json()["error"] and resp.headers.get("Retry-After"), resp.text
        if len(refused) == 10:
            break
    assert refused, f"the database never filled up: {statuses}"
    time.sleep(1.0)                          # the workers meet the full disk too
    assert _integrity(db_file) == "ok"
    free()
    for m in refused:                        # the platform retries what got a 503 until it is taken
        assert wait_until(lambda: app.post_generic(m).status_code == 200, 5.0, every=0.2), \
            f"{m['event_id']} still refused 5 s after space returned"
        accepted.append(m["event_id"])
    result = wait_answered(lambda: platform.wait_for(0, 0), accepted, 60)
    assert len(result.sent) == len(accepted) and len(set(accepted)) == len(accepted)
    assert result.unanswered == [], (result.unanswered[:10], _rows(db_file, result.unanswered))
    assert result.answered_twice == {}
    assert _integrity(db_file) == "ok"


def test_disk_full_gives_503_with_reason_keeps_the_database_and_recovers(small_volume, live_app, make_config,
                                                                         fake_model, fake_platform):
    db_file = small_volume / "smartbot.db"
    app = live_app(make_config(model=fake_model, database_url=f"sqlite:///{db_file}"))
    filler = small_volume / "filler"
    _full_then_space_again(app, fake_platform, db_file, lambda: fill(filler), filler.unlink)


def test_database_at_its_page_limit_gives_503_and_recovers(tmp_path, live_app, make_config, fake_model,
                                                           fake_platform):
    """The same without root: SQLite's max_page_count gives the real SQLITE_FULL on every connection
    of the app's own engine (set as each connects; the pool emptied and the kept writer connection
    let go, so all reconnect)."""
    db_file = tmp_path / "limited.db"
    app = live_app(make_config(model=fake_model, database_url=f"sqlite:///{db_file}"))
    engine = app.runtime.db.engine
    limit = {"pages": 0}

    def on_connect(dbapi_conn, _record) -> None:
        if limit["pages"]:
            dbapi_conn.execute(f"PRAGMA max_page_count = {limit['pages']}")

    def fill() -> None:
        with sqlite3.connect(db_file) as conn:
            limit["pages"] = conn.execute("PRAGMA page_count").fetchone()[0] + 40
        event.listen(engine, "connect", on_connect)
        app.runtime.db.dispose()

    def free() -> None:
        limit["pages"] = 0
        event.remove(engine, "connect", on_connect)
        app.runtime.db.dispose()

    _full_then_space_again(app, fake_platform, db_file, fill, free)
