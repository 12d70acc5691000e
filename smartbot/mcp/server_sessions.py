"""Sessions of SmartBot's MCP server: begun by `initialize` (the Mcp-Session-Id it answers with),
found again on every later request, ended by DELETE or after `[mcp] session_idle_minutes` unused.

They live in the database, not in a process, so any gunicorn worker or node serves any session.
A session belongs to the token that began it: another token (even the same user's) cannot use it.
"""
from __future__ import annotations

import secrets
import time
from typing import Any

import sqlalchemy as sa
from sqlalchemy.engine import Row

from ..storage.db import Database
from ..storage.tables import McpSession

_sessions = McpSession.__table__
# last_seen_at is written at most this often: a busy client must not mean a write per request.
TOUCH_EVERY = 30.0
CLIENT_FIELDS = ("name", "version")


def begin(db: Database, token_id: int, protocol_version: str, client: Any, idle_seconds: float) -> str:
    """A new session for the token; sessions idle longer than `idle_seconds` are purged on the way."""
    now = time.time()
    info = {k: str(client.get(k))[:100] for k in CLIENT_FIELDS if isinstance(client, dict) and k in client}
    session_id = secrets.token_hex(32)
    with db.write() as conn:
        conn.execute(sa.delete(_sessions).where(_sessions.c.last_seen_at < now - idle_seconds))
        conn.execute(sa.insert(_sessions).values(id=session_id, token_id=token_id, protocol_version=protocol_version,
                                                 client=info, created_at=now, last_seen_at=now))
    return session_id


def find(db: Database, session_id: str, token_id: int, idle_seconds: float) -> Row[Any] | None:
    """The token's live session with this id (None: unknown, ended, idle too long or another token's)."""
    if not 1 <= len(session_id) <= 64:
        return None
    now = time.time()
    with db.read() as conn:
        row = conn.execute(sa.select(_sessions).where(_sessions.c.id == session_id)).first()
    if row is None or row.token_id != token_id or row.last_seen_at < now - idle_seconds:
        return None
    if row.last_seen_at < now - TOUCH_EVERY:
        with db.write() as conn:
            conn.execute(sa.update(_sessions).where(_sessions.c.id == session_id).values(last_seen_at=now))
    return row


def end(db: Database, session_id: str) -> None:
    with db.write() as conn:
        conn.execute(sa.delete(_sessions).where(_sessions.c.id == session_id))
