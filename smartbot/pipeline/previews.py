"""Previews: the text so far of a reply the model is still writing, on channels that show it.

The chat handler gives a `Preview` to the model service as the sink of a streamed answer. It
writes the text so far to `message_previews` at most once per `[channels.<name>] stream_interval`
(the first text at once: that is when the reader stops waiting), where any process can read it
(`current`). The final reply is what counts: the preview is removed in the transaction that stores
it (`clear`, from outcome.store), and one a crash left behind is purged by the upkeep (`purge`).
A preview that cannot be written is skipped: it must never cost the reply.
"""
from __future__ import annotations

import functools
import logging
import time
from typing import Any, Callable

import sqlalchemy as sa
from sqlalchemy.engine import Connection

from ..channels import registry
from ..channels.base import StreamingConfig
from ..settings.sections import Settings
from ..storage.db import Database, dialect_insert
from ..storage.tables import MessagePreview

log = logging.getLogger(__name__)

_previews = MessagePreview.__table__
# A preview not written for this long belongs to no answer still being written: every call of a
# provider chain ends far sooner (each provider's total_timeout).
STALE_SECONDS = 3600.0


def streaming(settings: Settings, channel: str) -> StreamingConfig | None:
    """The channel's stream settings, when it shows replies being written and `stream` is on."""
    config = stream_settings(settings, channel)
    return config if config is not None and config.stream else None


def stream_settings(settings: Settings, channel: str) -> StreamingConfig | None:
    """The channel's stream settings (stream, stream_interval, typing); None for a channel without them."""
    config = settings.channels.get(channel) or _default_config(channel)
    return config if isinstance(config, StreamingConfig) else None


@functools.lru_cache(maxsize=None)
def _default_config(channel: str) -> Any:
    """The settings of a channel that has no section of its own (the web chat usually has none)."""
    spec = registry.spec(channel)
    return spec.config_class() if spec is not None else None


class Preview:
    """The sink of one streamed reply: keeps its text so far and writes it, throttled."""

    streams = True

    def __init__(self, db: Database, chat_key: str, reply_to: str, interval: float,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.db = db
        self.chat_key = chat_key
        self.reply_to = reply_to
        self.interval = interval
        self._clock = clock
        self._parts: list[str] = []
        self._written_at: float | None = None

    def __call__(self, piece: str) -> None:
        self._parts.append(piece)
        now = self._clock()
        if self._written_at is not None and now - self._written_at < self.interval:
            return
        text = "".join(self._parts)
        if text.strip():
            self._written_at = now
            self._write(text)

    def close(self) -> None:
        """The model is done; the final reply replaces what was written (nothing to stop here)."""

    def _write(self, text: str) -> None:
        values = {"chat_key": self.chat_key, "reply_to": self.reply_to, "text": text, "updated_at": time.time()}
        try:
            self.db.run_write(lambda conn: conn.execute(_upsert(self.db.dialect), values))
        except Exception as exc:  # noqa: BLE001 - the database's trouble reaches the reply's own write
            log.warning("could not write the preview of %s (%s); the reply comes all the same",
                        self.reply_to, type(exc).__name__)


@functools.lru_cache(maxsize=None)
def _upsert(dialect: str) -> Any:
    stmt = dialect_insert(dialect)(_previews)
    return stmt.on_conflict_do_update(index_elements=[_previews.c.chat_key, _previews.c.reply_to],
                                      set_={"text": stmt.excluded.text, "updated_at": stmt.excluded.updated_at})


def current(db: Database, chat_key: str) -> list[dict[str, Any]]:
    """The replies of one chat being written now: [{"reply_to", "text", "updated"}], oldest first."""
    with db.read() as conn:
        rows = conn.execute(sa.select(_previews.c.reply_to, _previews.c.text, _previews.c.updated_at)
                            .where(_previews.c.chat_key == chat_key).order_by(_previews.c.updated_at)).all()
    return [{"reply_to": r.reply_to, "text": r.text, "updated": r.updated_at} for r in rows]


# One prepared statement: every streamed answer runs it while holding the write lock.
_TAKE = sa.text("DELETE FROM message_previews WHERE chat_key = :chat_key AND reply_to = :reply_to "
                "RETURNING platform_ref")


def take(conn: Connection, chat_key: str, reply_to: str) -> str:
    """Inside the transaction that stores the final reply: its preview is gone with it. Returns the
    platform's handle of the preview message ("" when none was posted), which the final reply
    carries so that delivering it edits that message."""
    return conn.execute(_TAKE, {"chat_key": chat_key, "reply_to": reply_to}).scalar() or ""


def clear(conn: Connection, chat_key: str, reply_to: str) -> None:
    """Remove a preview without reading it (the final reply is stored)."""
    take(conn, chat_key, reply_to)


def handle_of(db: Database, chat_key: str, reply_to: str) -> str:
    """The platform's handle of a preview an earlier try of this message posted ("" when none):
    a second try edits that message instead of posting another."""
    with db.read() as conn:
        return conn.execute(sa.select(_previews.c.platform_ref).where(
            _previews.c.chat_key == chat_key, _previews.c.reply_to == reply_to)).scalar() or ""


def remember_handle(db: Database, chat_key: str, reply_to: str, text: str, handle: str) -> None:
    """Record, at once, the handle of a preview just posted: from then on a crash cannot lose it."""
    values = {"chat_key": chat_key, "reply_to": reply_to, "text": text, "updated_at": time.time(),
              "platform_ref": handle}
    db.run_write(lambda conn: conn.execute(_upsert_handle(db.dialect), values))


@functools.lru_cache(maxsize=None)
def _upsert_handle(dialect: str) -> Any:
    stmt = dialect_insert(dialect)(_previews)
    return stmt.on_conflict_do_update(index_elements=[_previews.c.chat_key, _previews.c.reply_to],
                                      set_={"platform_ref": stmt.excluded.platform_ref,
                                            "updated_at": stmt.excluded.updated_at})


def purge(conn: Connection, before: float) -> int:
    """Remove previews last written before `before` (a crash ended their stream)."""
    return conn.execute(sa.delete(_previews).where(_previews.c.updated_at < before)).rowcount
