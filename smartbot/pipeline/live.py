"""Replies shown on a chat platform while the model writes them, and the typing indicator before.

One `LiveReply` per answer: the chat handler hands it to the model service as the sink of the
streamed text and closes it when the model is done. A thread of its own talks to the platform,
so the model's stream never waits for a platform's answer:
- until there is text, it shows typing (renewed every `channel.typing_interval` seconds);
- then it posts the text (`Channel.start_preview`), records the platform's handle of that message
  in `message_previews` at once (the final reply, stored later and perhaps delivered by another
  process, edits that message; a second try of the message after a crash edits it too), and edits
  it with the text so far, at most once per `[channels.<name>] stream_interval` per chat (`Throttle`,
  shared by every reply of the process), and not before a 429's `retry_after` has passed;
- a text longer than the platform's limit shows its first part only: the final reply brings the
  rest as messages of their own, split the same way.
The final reply is never sent here: it is the outbox's (`Channel.deliver`). A preview that fails is
given up, never posted a second time; the final reply is then a message of its own.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Callable

from ..channels.base import Channel, StreamingConfig
from ..errors import DeliveryError
from ..gateway import outbox
from ..messages import InboundMessage, Reply, split_text
from ..storage.db import Database
from . import previews

log = logging.getLogger(__name__)

MAX_PREVIEW = 4000         # characters a preview shows on a platform that states no limit
CLOSE_WAIT = 15.0          # a preview being posted when the model ends is waited for this long at most
_PRUNE_AT = 10_000


class Throttle:
    """Per chat, when the next preview edit may go: one edit per interval, later after a 429."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._due: dict[str, float] = {}
        self._lock = threading.Lock()

    def wait(self, chat_key: str) -> float:
        """Seconds until this chat may be edited again (0: now)."""
        with self._lock:
            return max(0.0, self._due.get(chat_key, 0.0) - self._clock())

    def hold(self, chat_key: str, seconds: float) -> None:
        """No edit of this chat for `seconds` (after an edit, or a platform's retry_after)."""
        with self._lock:
            now = self._clock()
            if len(self._due) > _PRUNE_AT:
                self._due = {k: v for k, v in self._due.items() if v > now}
            self._due[chat_key] = max(self._due.get(chat_key, 0.0), now + seconds)


THROTTLE = Throttle()


def for_message(db: Database, channel: Channel | None, msg: InboundMessage, config: StreamingConfig | None,
                streamed: bool) -> LiveReply | previews.Preview | None:
    """What shows this message's answer being written: the platform's own preview and typing
    (LiveReply), the database preview a page reads (the web chat), or nothing."""
    if config is None:
        return None
    stream = streamed and config.stream
    if channel is None or channel.previews_from_database:
        return previews.Preview(db, msg.chat_key, msg.event_id, config.stream_interval) if stream else None
    live = LiveReply(channel, db, msg, config.stream_interval, stream, getattr(config, "typing", False))
    if not live.streams and live.typing_due is None:
        return None
    live.start()
    return live


class LiveReply:
    """The sink of one streamed answer on a platform, and its typing indicator."""

    def __init__(self, channel: Channel, db: Database, msg: InboundMessage, interval: float, stream: bool,
                 typing: bool = True, throttle: Throttle = THROTTLE, clock: Callable[[], float] = time.monotonic) -> None:
        self.channel = channel
        self.db = db
        self.chat_key = msg.chat_key
        self.interval = interval
        self.throttle = throttle
        self._clock = clock
        # The final reply's delivery id: platforms that name a streamed reply (WeCom) name both alike.
        self.reply = Reply(msg.channel, msg.chat_id, "", dict(msg.reply_context), reply_to=msg.event_id,
                           delivery_id=outbox.delivery_id(msg.channel, msg.event_id), request_id=msg.request_id)
        self.streams = stream and channel.can_preview(self.reply)
        self._text = ""
        # Enough text to fill the platform's first message (and its split point): an endless answer
        # costs this much memory and work, not more.
        self._keep = 2 * (channel.text_limit or MAX_PREVIEW) + 100
        self._shown = ""
        self._handle = ""
        self._given_up = not self.streams
        self.typing_due: float | None = clock() if typing and channel.typing_interval else None
        self._closed = False
        self._showing = False       # a preview call (post or edit) is on its way
        self._cv = threading.Condition()
        self._thread = threading.Thread(target=self._run, name=f"live-{msg.channel}", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def __call__(self, piece: str) -> None:
        with self._cv:
            if len(self._text) < self._keep:       # past it, the part a preview shows no longer changes
                self._text += piece
                self._cv.notify()

    def close(self) -> None:
        """The model is done: stop typing and editing. A preview call on its way is waited for: a
        posted preview's handle must be recorded before the final reply is stored, and an edit must
        not land after the final one. A typing call on its way is not."""
        with self._cv:
            self._closed = True
            self._cv.notify()
            showing = self._showing
        if showing:
            self._thread.join(CLOSE_WAIT)

    # -- the thread ------------------------------------------------------------------------
    def _run(self) -> None:
        try:
            while True:
                action, text = self._next()
                if action == "show":
                    try:
                        self._show(text)
                    finally:
                        with self._cv:
                            self._showing = False
                elif action == "typing":
                    self._type()
                else:
                    return
        except Exception:  # noqa: BLE001 - a preview must never cost the reply
            log.exception("the preview of %s failed; the reply comes all the same", self.reply.reply_to)

    def _next(self) -> tuple[str, str]:
        """Wait for the next thing to do: ("show", text), ("typing", ""), or ("", "") when closed."""
        with self._cv:
            while not self._closed:
                now = self._clock()
                text = self._visible()
                wait: float | None = None
                if text and text != self._shown and not self._given_up:
                    wait = self.throttle.wait(self.chat_key)
                    if wait <= 0:
                        self._showing = True
                        return "show", text
                elif not self._shown and self.typing_due is not None:
                    wait = self.typing_due - now
                    if wait <= 0:
                        return "typing", ""
                self._cv.wait(wait)
            return "", ""

    def _visible(self) -> str:
        """The text so far, cut to the platform's limit (the first part of what the final will be)."""
        text = self._text.strip()
        limit = self.channel.text_limit or MAX_PREVIEW
        return split_text(text, limit, self.channel.limit_in_bytes)[0] if text else ""

    def _show(self, text: str) -> None:
        reply = Reply(**{**self.reply.to_record(), "text": text})
        try:
            if not self._handle:
                self._handle = previews.handle_of(self.db, self.chat_key, self.reply.reply_to)
            if self._handle:
                self.channel.update_preview(reply, self._handle)
            else:
                self._handle = self.channel.start_preview(reply)
                self._remember(text)
        except DeliveryError as exc:
            self._refused(exc)
            return
        self._shown = text
        self.throttle.hold(self.chat_key, self.interval)

    def _remember(self, text: str) -> None:
        try:
            previews.remember_handle(self.db, self.chat_key, self.reply.reply_to, text, self._handle)
        except Exception as exc:  # noqa: BLE001 - the database's trouble reaches the reply's own write
            log.warning("could not record the preview of %s (%s): the final reply will be a message of its own",
                        self.reply.reply_to, type(exc).__name__)

    def _refused(self, exc: DeliveryError) -> None:
        if exc.retry_after is not None:             # rate limited: the text waits, the throttle says how long
            log.info("%s asks previews in %s to wait %.1f s", self.channel.name, self.chat_key, exc.retry_after)
            self.throttle.hold(self.chat_key, exc.retry_after)
        elif exc.retryable and self._handle:        # an edit that may work next time
            self.throttle.hold(self.chat_key, self.interval)
        else:       # never posted, or posted we cannot tell: not posted again
            log.info("%s: giving up the preview of %s (%s)", self.channel.name, self.reply.reply_to, exc.reason)
            self._given_up = True

    def _type(self) -> None:
        try:
            self.channel.typing(self.reply)
        except DeliveryError as exc:
            if not exc.retryable:
                log.info("%s: no typing indicator in %s (%s)", self.channel.name, self.chat_key, exc.reason)
                self.typing_due = None
                return
        self.typing_due = self._clock() + self.channel.typing_interval
