"""Talking to a running app through the generic channel, the way a user's platform would."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa

from smartbot.storage.tables import AuditLog


def message(event_id: str, text: str, chat: str = "chat-1", user: str = "u-1", **extra: Any) -> dict[str, Any]:
    return {"event_id": event_id, "chat_id": chat, "user_id": user, "user_name": "Alice", "text": text, **extra}


def say(app: Any, platform: Any, text: str, event_id: str, timeout: float = 10.0, **extra: Any) -> str:
    """Send one signed message and return the text of the reply that arrives for it."""
    before = len(platform.received)
    assert app.post_generic(message(event_id, text, **extra)).status_code == 200
    got = platform.wait_for(before + 1, timeout)
    assert len(got) > before, f"no reply to {text!r}"
    return got[before]["json"]["text"]


def audit_rows(app: Any, action: str) -> list:
    table = AuditLog.__table__
    with app.runtime.db.read() as conn:
        return conn.execute(sa.select(table).where(table.c.action == action).order_by(table.c.seq)).all()
