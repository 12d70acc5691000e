"""The job runner's work for each inbox row, steps 7-10 of the message path: let the channel settle
what its webhook left open, handle the message (the Pipeline decides an Outcome), store the
outcome with the message's own transaction, and send the replies that leased at once (delivery.py).
Failures are retried with backoff, then told to the user.

`dispatch(kind, ids, delay)` hands follow-up work (the conversation's next message, a retry, a
workflow run) back to whichever backend runs this worker. Never answers a message twice: storing
the outcome finishes the message only while this process holds its lease.
"""
from __future__ import annotations

import logging
import time

from ..assistant import memory
from ..telemetry import request_ids
from ..audit import AuditEvent
from ..channels.base import Channel
from ..settings.sections import Settings
from ..storage import uploads
from ..storage.db import Database
from .delivery import Delivery
from ..gateway import inbox
from ..gateway.handoff import Claims
from ..i18n import normalize, t
from ..jobs.local import Dispatch
from ..storage.queue import QueueRow
from ..messages import InboundMessage
from ..storage.tables.queues import FAILED
from ..telemetry import metrics
from . import previews
from .outcome import Outcome, store
from .decide import Pipeline

log = logging.getLogger(__name__)

INBOX = inbox.KIND
MAX_HANDLE_ATTEMPTS = 3


class MessageWorker:
    def __init__(self, settings: Settings, db: Database, pipeline: Pipeline, channels: dict[str, Channel],
                 claims: Claims, delivery: Delivery, dispatch: Dispatch) -> None:
        self.settings = settings
        self.db = db
        self.pipeline = pipeline
        self.channels = channels
        self.claims = claims
        self.delivery = delivery
        self.dispatch = dispatch
        self.owner = claims.owner

    def handle_message(self, row_id: int) -> None:
        """The job of an inbox row."""
        with self.claims.working(INBOX, row_id) as held:
            if held is None:
                return
            row, msg = held
            token = request_ids.bind(msg.request_id)
            try:
                self._handle(row, msg)
            finally:
                request_ids.unbind(token)

    def _handle(self, row: QueueRow, msg: InboundMessage) -> None:
        started = time.perf_counter()
        status = "done"
        channel = self.channels.get(msg.channel)
        try:
            settled = channel.settle(msg) if channel is not None else msg
            outcome = self.pipeline.handle(settled) if settled is not None else Outcome(result="ignored")
        except Exception as exc:  # a bug or the database: retry, then tell the user
            log.exception("handling message %s failed (attempt %d)", msg.event_id, row.attempts)
            if row.attempts < MAX_HANDLE_ATTEMPTS:
                delay = 2.0 ** row.attempts
                if inbox.retry_later(self.db, row.id, self.owner, delay, f"{type(exc).__name__}: {exc}"):
                    self.dispatch(INBOX, [row.id], delay)
                return
            status = FAILED
            outcome = self._failed(msg, exc, row.attempts)
        stored = store(self.db, row, msg, outcome, self.owner, self.claims.lease_seconds, channel, status)
        if stored is None:
            log.info("message %s was finished by another worker", msg.event_id)
            return
        metrics.count("messages_handled_total", channel=msg.channel,
                      result="failed" if status == FAILED else outcome.result)
        log.debug("message %s handled: %s", msg.event_id, outcome.result)
        metrics.observe("message_handle_seconds", time.perf_counter() - started, channel=msg.channel)
        for reply_id, reply in stored.replies.items():
            self.delivery.deliver_now(QueueRow(reply_id, self.owner, msg.chat_key, msg.channel), reply)
        for kind, row_id in outcome.follow_up:      # e.g. a workflow run, after its "started" reply
            self.dispatch(kind, [row_id], 0.0)
        if stored.next_inbox_ids:
            self.dispatch(INBOX, stored.next_inbox_ids, 0.0)

    def _failed(self, msg: InboundMessage, exc: Exception, attempts: int) -> Outcome:
        """What the user is told when their message failed every attempt."""
        locale = normalize(msg.locale, self.settings.default_locale)
        # previewed: a preview an earlier try showed is finished with this text, not left half-written.
        return Outcome(texts=[t("error.internal", locale)], result=f"{type(exc).__name__}", previewed=True,
                       audit=[AuditEvent("message.failed", f"{msg.channel}:{msg.user_id}", msg.chat_key, "error",
                                         {"event_id": msg.event_id, "error": type(exc).__name__,
                                          "attempts": attempts})])

    # -- upkeep ---------------------------------------------------------------------------
    def recover(self) -> list[int]:
        """Take over messages whose owner died or whose lease ran out, and queued ones that are due."""
        ids = self.claims.recover(INBOX)
        if ids:
            self.dispatch(INBOX, ids, 0.0)
        return ids

    def renew(self) -> None:
        self.claims.renew(INBOX)

    def purge(self) -> None:
        """Drop finished messages after the dedup window, old conversation turns, and previews a
        crash left behind."""
        now = time.time()
        with self.db.write() as conn:
            n_in = inbox.queue.purge_finished(conn, now - self.settings.jobs.dedup_days * 86400)
            n_turns = memory.purge_before(conn, now - self.settings.memory.retention_days * 86400)
            n_previews = previews.purge(conn, now - previews.STALE_SECONDS)
            uploads.purge(conn, now - uploads.KEEP_SECONDS)
        if n_in or n_turns or n_previews:
            log.info("purged %d inbox rows, %d conversation turns and %d stale previews", n_in, n_turns, n_previews)
