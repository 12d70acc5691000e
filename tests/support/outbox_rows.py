"""Reading the outbox of an app in another process (under gunicorn): how many replies are recorded
as sent. A test that kills the workers waits for this first, so that what it checks is the inbound
connection's takeover, not the known window between a platform accepting a reply and the outbox
recording it (docs/reliability.md, "Limits")."""
from __future__ import annotations

import sqlalchemy as sa

from smartbot.storage.db import Database
from smartbot.storage.tables.queues import DONE
from tests.support.waiting import wait_until


def sent_replies(database_url: str) -> int:
    db = Database(database_url)         # SQLite or PostgreSQL, with the driver the app uses
    try:
        with db.read() as conn:
            return conn.execute(sa.text("SELECT COUNT(*) FROM outbox WHERE status = :done"), {"done": DONE}).scalar_one()
    finally:
        db.dispose()


def wait_sent(database_url: str, count: int, timeout: float = 10.0) -> bool:
    return wait_until(lambda: sent_replies(database_url) >= count, timeout, every=0.2)
