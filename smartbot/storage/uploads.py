"""The web chat's uploads (`chat_uploads`): put by the page's upload endpoint, read by the worker
for the one message that names them, and purged by the upkeep soon after."""
from __future__ import annotations

import time
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from .db import Database
from .tables import ChatUpload

_uploads = ChatUpload.__table__
KEEP_SECONDS = 3600.0       # long enough for the message that names it to be answered, retries included


@dataclass(frozen=True)
class Upload:
    key: str
    name: str
    mime: str
    size: int


def put(db: Database, key: str, chat_id: str, name: str, mime: str, data: bytes) -> None:
    with db.write() as conn:
        conn.execute(_uploads.insert().values(key=key, chat_id=chat_id, name=name, mime=mime, size=len(data),
                                              data=data, created_at=time.time()))


def describe(db: Database, key: str, chat_id: str) -> Upload | None:
    """What an upload is, when it belongs to `chat_id` (another chat's key is as unknown as none)."""
    with db.read() as conn:
        row = conn.execute(sa.select(_uploads.c.key, _uploads.c.name, _uploads.c.mime, _uploads.c.size)
                           .where(_uploads.c.key == key, _uploads.c.chat_id == chat_id)).first()
    return Upload(row.key, row.name, row.mime, row.size) if row is not None else None


def content(db: Database, key: str, chat_id: str) -> bytes | None:
    with db.read() as conn:
        return conn.execute(sa.select(_uploads.c.data)
                            .where(_uploads.c.key == key, _uploads.c.chat_id == chat_id)).scalar()


def purge(conn: Connection, before: float) -> int:
    return conn.execute(_uploads.delete().where(_uploads.c.created_at < before)).rowcount or 0
