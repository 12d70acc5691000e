"""The work behind the queues, the same for every job backend: handle a message, deliver a reply,
take over work whose owner died, renew leases, purge old rows.

`dispatch(kind, ids)` hands follow-up work (the conversation's next message, the chat's next reply,
a retry) back to whichever backend runs this worker.
"""
from __future__ import annotations

import contextlib
import logging
import threading
import time
from typing import Any, Callable, Iterator

from . import conversations, request_ids, usage
from .audit import AuditEvent
from .config import Settings
from .db import Database
from .errors import DeliveryError
from .gateway import inbox, outbox
from .gateway.handoff import Handoff, LeasedRow
from .i18n import normalize, t
from .jobs.liveness import owner_is_dead
from .messages import InboundMessage
from .models.queues import FAILED
from .ops import metrics
from .outcome import Outcome
from .pipeline import Pipeline

log = logging.getLogger(__name__)

INBOX, OUTBOX = "inbox", "outbox"
MAX_HANDLE_ATTEMPTS = 3
JOB_RETRY_SECONDS = 1.0
Dispatch = Callable[[str, list[int], float], None]   # kind, row ids, delay in seconds


class MessageWorker:
    def __init__(self, settings: Settings, db: Database, pipeline: Pipeline, channels: dict[str, Any],
                 owner: str, dispatch: Dispatch) -> None:
        self.settings = settings
        self.db = db
        self.pipeline = pipeline
        self.channels = channels
        self.owner = owner
        self.dispatch = dispatch
        self.lease_seconds = settings.jobs.lease_seconds
        # Rows being worked in this process. Two jobs can name the same row (a retry's timer and
        # the recovery sweep both find it due); a lease held by this process cannot tell them apart.
        self._working: set[tuple[str, int]] = set()
        self._working_lock = threading.Lock()
        self.handoff = Handoff(settings.jobs.max_backlog, self.lease_seconds)

    def hand_over(self, row_id: int, msg: InboundMessage) -> None:
        """The webhook stored `msg` as inbox row `row_id`, leased to this process: its job need not
        read it back. (A copy: the webhook's own request still reads the original.)"""
        self.handoff.put(INBOX, LeasedRow(row_id, self.owner, msg.conversation_key, msg.channel),
                         InboundMessage.from_record(msg.to_record()))

    @contextlib.contextmanager
    def _exclusive(self, kind: str, row_id: int) -> Iterator[bool]:
        """True for the one job in this process that may work the row now; False for the others."""
        key = (kind, row_id)
        with self._working_lock:
            mine = key not in self._working
            self._working.add(key)
        try:
            yield mine
        finally:
            if mine:
                with self._working_lock:
                    self._working.discard(key)

    def _own(self, kind: str, module: Any, row_id: int) -> tuple[Any, Any] | None:
        """The row and its payload when this worker holds its lease; a queued row (a retry that is
        due, or work handed out by another node) is claimed first if it is first in line."""
        handed = self.handoff.take(kind, row_id)
        if handed is not None:
            return handed
        loaded = module.load(self.db, row_id)
        if loaded is None:
            return None
        row = loaded[0]
        if row.status == "leased" and row.owner == self.owner:
            return loaded
        if row.status != "queued":
            return None
        until = time.time() + self.lease_seconds
        if not self.db.run_write(lambda conn: module.queue.lease_if_head(conn, [row_id], self.owner, until)):
            return None
        return module.load(self.db, row_id)

    # -- messages -------------------------------------------------------------------------
    def handle_message(self, row_id: int) -> None:
        with self._exclusive(INBOX, row_id) as mine:
            loaded = self._own(INBOX, inbox, row_id) if mine else None
            if loaded is None:
                return
            row, msg = loaded
            token = request_ids.bind(msg.request_id)
            try:
                self._handle(row, msg)
            finally:
                request_ids.unbind(token)

    def _handle(self, row: Any, msg: Any) -> None:
        started = time.perf_counter()
        status = "done"
        spent: list[usage.Spent] = []
        try:
            with usage.deferred(spent):
                outcome = self.pipeline.handle(msg)
            outcome.usage = spent
        except Exception as exc:  # a bug or the database: retry, then tell the user
            self._record_usage(spent)
            log.exception("handling message %s failed (attempt %d)", msg.event_id, row.attempts)
            if row.attempts < MAX_HANDLE_ATTEMPTS:
                delay = 2.0 ** row.attempts
                if inbox.retry_later(self.db, row.id, self.owner, delay, f"{type(exc).__name__}: {exc}"):
                    self.dispatch(INBOX, [row.id], delay)
                return
            locale = normalize(msg.locale, self.settings.default_locale)
            status = FAILED
            outcome = Outcome(texts=[t("error.internal", locale)], result=f"{type(exc).__name__}",
                              audit=[AuditEvent("message.failed", f"{msg.channel}:{msg.user_id}", msg.chat_key,
                                                "error", {"event_id": msg.event_id, "error": type(exc).__name__,
                                                          "attempts": row.attempts})])
        done = inbox.complete(self.db, row, msg, outcome, self.owner, self.lease_seconds,
                              self.channels.get(msg.channel), status)
        if done is None:
            log.info("message %s was finished by another worker", msg.event_id)
            self._record_usage(outcome.usage)      # its model calls were made all the same
            return
        metrics.count("messages_handled_total", channel=msg.channel,
                      result="failed" if status == FAILED else outcome.result)
        log.debug("message %s handled: %s", msg.event_id, outcome.result)
        metrics.observe("message_handle_seconds", time.perf_counter() - started, channel=msg.channel)
        for reply_id in done.outbox_ids:
            self.handoff.put(OUTBOX, LeasedRow(reply_id, self.owner, msg.chat_key, msg.channel),
                             done.replies[reply_id])
            try:
                self.deliver(reply_id)
            except Exception:
                self._retry_later(OUTBOX, reply_id)
        for kind, row_id in outcome.follow_up:      # e.g. a workflow run, after its "started" reply
            self.dispatch(kind, [row_id], 0.0)
        if done.next_inbox_ids:
            self.dispatch(INBOX, done.next_inbox_ids, 0.0)

    def _record_usage(self, spent: list[usage.Spent]) -> None:
        """Usage the message's own transaction did not store. Accounting never fails the message."""
        if not spent:
            return
        try:
            self.db.run_write(lambda conn: usage.record_all(conn, spent))
        except Exception:
            log.exception("could not record the usage of %d model calls", len(spent))

    # -- replies --------------------------------------------------------------------------
    def deliver(self, row_id: int) -> None:
        """Send one reply, then the chat's following replies that become first in line."""
        pending = [row_id]
        while pending:
            current = pending.pop(0)
            try:
                pending.extend(self._deliver_one(current))
            except Exception:
                if current == row_id:
                    raise               # this job's own reply: the job runner tries it again
                self._retry_later(OUTBOX, current)

    def _retry_later(self, kind: str, row_id: int) -> None:
        """A row this job leased on the way (the chat's next reply) failed with an exception (the
        database full or gone): hand it back as a job of its own. It keeps its lease, which this
        process renews, so nothing else would ever pick it up."""
        log.exception("%s row %s failed; trying again in %.0f s", kind, row_id, JOB_RETRY_SECONDS)
        self.dispatch(kind, [row_id], JOB_RETRY_SECONDS)

    def _deliver_one(self, row_id: int) -> list[int]:
        with self._exclusive(OUTBOX, row_id) as mine:
            loaded = self._own(OUTBOX, outbox, row_id) if mine else None
            if loaded is None:
                return []
            row, reply = loaded
            token = request_ids.bind(reply.request_id)
            try:
                return self._send(row, reply)
            finally:
                request_ids.unbind(token)

    def _send(self, row: Any, reply: Any) -> list[int]:
        channel = self.channels.get(row.channel)
        try:
            if channel is None:
                raise DeliveryError(f"channel {row.channel} is not configured", retryable=False)
            channel.send(reply)
        except DeliveryError as exc:
            metrics.count("replies_total", channel=row.channel, result="retry" if exc.retryable else "refused")
            return self._delivery_failed(row, exc)
        nxt = outbox.mark_sent(self.db, row, self.owner, self.lease_seconds)
        metrics.count("replies_total", channel=row.channel, result="delivered")
        metrics.observe("reply_latency_seconds", max(0.0, time.time() - row.created_at), channel=row.channel)
        log.debug("reply %s delivered to %s", row.id, row.channel)
        return nxt or []

    def _delivery_failed(self, row: Any, exc: DeliveryError) -> list[int]:
        jobs = self.settings.jobs
        if exc.retryable and row.attempts < jobs.outbox_max_attempts:
            delay = min(jobs.outbox_backoff_max, 2.0 ** (row.attempts - 1))
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, jobs.outbox_backoff_max))
            log.warning("reply %s to %s failed (%s); retry %d in %.1fs", row.id, row.channel, exc.reason,
                        row.attempts, delay)
            if outbox.retry_later(self.db, row.id, self.owner, delay, exc.reason):
                self.dispatch(OUTBOX, [row.id], delay)
            return []
        log.error("reply %s to %s failed for good: %s", row.id, row.channel, exc.reason)
        event = AuditEvent("reply.failed", "system", row.order_key, "error",
                           {"reply": row.id, "channel": row.channel, "reason": exc.reason,
                            "attempts": row.attempts})
        return outbox.mark_failed(self.db, row, self.owner, exc.reason, self.lease_seconds, event)

    # -- upkeep ---------------------------------------------------------------------------
    def recover(self, limit: int = 500) -> dict[str, list[int]]:
        """Take over work of dead or expired owners and queued work that is due; dispatch it."""
        found: dict[str, list[int]] = {}
        now = time.time()
        for kind, queue in ((INBOX, inbox.queue), (OUTBOX, outbox.queue)):
            with self.db.read() as conn:
                stale = queue.stale_owners(conn, now)
                due = queue.due_heads(conn, now, limit)
            ids: list[int] = []
            until = now + self.lease_seconds
            if stale or due:
                with self.db.write() as conn:
                    for old in stale:
                        if old != self.owner:   # our own leases are in flight or in our queue
                            ids += queue.take_over(conn, old, self.owner, until, now, owner_is_dead(old))
                    ids += queue.lease_if_head(conn, due, self.owner, until, now)
            if ids:
                log.info("recovered %d %s rows (stale owners: %s)", len(ids), kind, ", ".join(stale) or "none")
                found[kind] = sorted(set(ids))
                self.dispatch(kind, found[kind], 0.0)
        return found

    def renew(self) -> None:
        until = time.time() + self.lease_seconds
        with self.db.write() as conn:
            inbox.queue.renew(conn, self.owner, until)
            outbox.queue.renew(conn, self.owner, until)

    def purge(self) -> None:
        """Drop finished rows after the dedup window, and old conversation turns."""
        before = time.time() - self.settings.jobs.dedup_days * 86400
        with self.db.write() as conn:
            n_in = inbox.queue.purge_finished(conn, before)
            n_out = outbox.queue.purge_finished(conn, before)
            n_turns = conversations.purge_before(conn, time.time() - self.settings.memory.retention_days * 86400)
        if n_in or n_out or n_turns:
            log.info("purged %d inbox, %d outbox rows and %d conversation turns", n_in, n_out, n_turns)
