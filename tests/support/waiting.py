"""Waiting for something that happens in another process or thread, with a deadline."""
from __future__ import annotations

import time
from typing import Any, Callable


def wait_until(predicate: Callable[[], object], timeout: float, every: float = 0.05) -> bool:
    """True as soon as `predicate()` is true; its last answer when `timeout` seconds have passed."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(every)
    return bool(predicate())


def queues_settled(db: Any) -> bool:
    """No inbox or outbox row waits or is being worked on. Every message acknowledged by then was
    handled, and each reply it made reached the platform (a reply is marked sent once the platform
    answered): a test can then say what did not happen without pausing for it."""
    import sqlalchemy as sa

    with db.read() as conn:
        return conn.execute(sa.text(
            "SELECT 1 FROM inbox WHERE status IN ('queued', 'leased') UNION ALL "
            "SELECT 1 FROM outbox WHERE status IN ('queued', 'leased')")).first() is None
