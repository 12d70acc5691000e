"""The chat page's live feed: a long poll that answers as soon as a reply is delivered to the
visitor's chat, or after a bounded wait with nothing.

Why a long poll and not server-sent events: gunicorn's gthread workers hold one thread per open
request, and an event stream would hold one per open tab for as long as the tab stays open. A long
poll gives its thread back at least every `MAX_WAIT` seconds, passes through any proxy unbuffered,
and needs nothing the page's other requests do not already have.

Threads are still what webhooks need, so only some of them may wait: a poll that finds every
waiting place taken is answered at once with `busy`, and the page asks again a little later.

A reply delivered in this process wakes the wait at once (the web chat channel's condition); one
delivered by another process (another gunicorn worker, a `smartbot worker`) is found by looking
again every `RECHECK` seconds, a read on an index.

Every answer also carries the replies being written now (`previews`, the text so far of a streamed
reply). A preview written in the last `LIVE_PREVIEW` seconds ends the wait at the next look, so a
growing reply reaches the page about twice a second; an old one (left by a crash until the upkeep
removes it) does not shorten the wait.
"""
from __future__ import annotations

import threading
import time
from typing import Any, NamedTuple

from ..pipeline import previews
from ..storage.db import Database
from . import history

MAX_WAIT = 10.0             # seconds one poll may hold a server thread
RECHECK = 0.5               # seconds between looks for replies another process delivered
BATCH = 50                  # replies per answer; the page asks again for the rest at once
LIVE_PREVIEW = 2 * RECHECK  # seconds a preview counts as still growing


class FeedAnswer(NamedTuple):
    messages: list[dict[str, Any]]      # replies, oldest first
    last: int                           # the newest reply's row id: the next poll's `after`
    previews: list[dict[str, Any]]      # replies being written now: [{"reply_to", "text", "updated"}]
    busy: bool = False                  # every waiting place was taken: answered without waiting

    def growing(self, now: float) -> bool:
        return any(now - preview["updated"] < LIVE_PREVIEW for preview in self.previews)


class LiveFeed:
    def __init__(self, db: Database, delivered: threading.Condition, waiting_places: int) -> None:
        self._db = db
        self._delivered = delivered
        self._places = threading.BoundedSemaphore(max(1, waiting_places))

    def poll(self, chat_id: str, after: int, wait: float) -> FeedAnswer:
        """The replies after `after`, waiting up to `wait` seconds for the first."""
        found = self._read(chat_id, after)
        if found.messages or wait <= 0:
            return found
        if not self._places.acquire(blocking=False):
            return found._replace(busy=True)
        try:
            deadline = time.monotonic() + min(wait, MAX_WAIT)
            while not found.messages and not found.growing(time.time()):
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                with self._delivered:
                    self._delivered.wait(min(remaining, RECHECK))
                found = self._read(chat_id, after)
        finally:
            self._places.release()
        return found

    def _read(self, chat_id: str, after: int) -> FeedAnswer:
        with self._db.read() as conn:
            messages, last = history.new_replies(conn, chat_id, after, BATCH)
        growing = previews.current(self._db, history.chat_key(chat_id))
        return FeedAnswer(messages, last, [history.preview_entry(preview, chat_id) for preview in growing])
