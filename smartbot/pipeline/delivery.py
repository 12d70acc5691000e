"""Step 10 of the message path: deliver the replies waiting in the outbox, in order per chat.

A reply is sent by its channel; a refusal the platform may get over (a timeout, 429, 5xx) is
retried later with backoff, up to `[jobs] outbox_max_attempts`, and anything else fails the reply
for good (recorded and audited) so the chat's next reply can go. Sending a reply leases the chat's
next one, which is sent by the same job.

Never sends a reply this process does not hold the lease of, and never sends one twice on
purpose: a send whose result was lost is repeated with the same delivery id.
"""
from __future__ import annotations

import logging
import time
from typing import Any

from ..telemetry import request_ids
from ..audit import AuditEvent
from ..settings.sections import Settings
from ..storage.db import Database
from ..errors import DeliveryError
from ..gateway import outbox
from ..gateway.handoff import Claims
from ..jobs.bell import Bell
from ..jobs.local import Dispatch
from ..storage.queue import QueueRow
from ..messages import Reply
from ..telemetry import metrics

log = logging.getLogger(__name__)

OUTBOX = outbox.KIND
JOB_RETRY_SECONDS = 1.0


class Delivery:
    def __init__(self, settings: Settings, db: Database, channels: dict[str, Any], claims: Claims,
                 dispatch: Dispatch, bell: Bell | None = None) -> None:
        self.settings = settings
        self.db = db
        self.channels = channels
        self.claims = claims
        self.dispatch = dispatch
        self.bell = bell or Bell("", "")

    def deliver(self, row_id: int) -> None:
        """The job of an outbox row: send it, then the chat's following replies that become first
        in line. This job's own reply raises when it fails with an exception (the job runner
        tries it again); a following one is handed back as a job of its own."""
        pending = [row_id]
        while pending:
            current = pending.pop(0)
            try:
                pending.extend(self._deliver_one(current))
            except Exception:
                if current == row_id:
                    raise
                self.retry_later(current)

    def deliver_now(self, row: QueueRow, reply: Reply) -> None:
        """A reply this process just stored and leased (a handled message's answer): send it on
        this thread, without reading it back."""
        self.claims.handoff.put(OUTBOX, row, reply)
        try:
            self.deliver(row.id)
        except Exception:
            self.retry_later(row.id)

    def retry_later(self, row_id: int) -> None:
        """A reply this process holds failed with an exception (the database full or gone): hand
        it back as a job of its own. It keeps its lease, which this process renews, so nothing
        else would ever pick it up."""
        log.exception("outbox row %s failed; trying again in %.0f s", row_id, JOB_RETRY_SECONDS)
        self.dispatch(OUTBOX, [row_id], JOB_RETRY_SECONDS)

    def _deliver_one(self, row_id: int) -> list[int]:
        with self.claims.working(OUTBOX, row_id) as held:
            if held is None:
                return []
            row, reply = held
            token = request_ids.bind(reply.request_id)
            try:
                return self._send(row, reply)
            finally:
                request_ids.unbind(token)

    def _send(self, row: QueueRow, reply: Reply) -> list[int]:
        channel = self.channels.get(row.channel)
        if channel is not None and not channel.sends_here(reply):
            self._leave_for_holder(row)
            return []
        try:
            if channel is None:
                raise DeliveryError(f"channel {row.channel} is not configured", retryable=False)
            channel.deliver(reply)
        except DeliveryError as exc:
            metrics.count("replies_total", channel=row.channel, result="retry" if exc.retryable else "refused")
            return self._delivery_failed(row, exc)
        nxt = outbox.mark_sent(self.db, row, self.claims.owner, self.claims.lease_seconds)
        metrics.count("replies_total", channel=row.channel, result="delivered")
        metrics.observe("reply_latency_seconds", max(0.0, time.time() - row.created_at), channel=row.channel)
        log.debug("reply %s delivered to %s", row.id, row.channel)
        return nxt or []

    def _leave_for_holder(self, row: QueueRow) -> None:
        """Only the process holding the platform's connection can send it: left in the outbox for
        that process, the attempt not counted, and its bell rung (pipeline/connection_replies.py)."""
        if outbox.leave_for_holder(self.db, self.claims.owner, row.id, row.channel):
            log.info("reply %s to %s left for the process holding the connection", row.id, row.channel)
            self.bell.ring(outbox.holder_of(row.channel))

    def _delivery_failed(self, row: QueueRow, exc: DeliveryError) -> list[int]:
        jobs = self.settings.jobs
        owner = self.claims.owner
        if exc.retryable and row.attempts < jobs.outbox_max_attempts:
            delay = min(jobs.outbox_backoff_max, 2.0 ** (row.attempts - 1))
            if exc.retry_after is not None:
                delay = max(delay, min(exc.retry_after, jobs.outbox_backoff_max))
            log.warning("reply %s to %s failed (%s); retry %d in %.1fs", row.id, row.channel, exc.reason,
                        row.attempts, delay)
            if outbox.retry_later(self.db, row.id, owner, delay, exc.reason):
                self.dispatch(OUTBOX, [row.id], delay)
            return []
        log.error("reply %s to %s failed for good: %s", row.id, row.channel, exc.reason)
        event = AuditEvent("reply.failed", "system", row.order_key, "error",
                           {"reply": row.id, "channel": row.channel, "reason": exc.reason,
                            "attempts": row.attempts})
        return outbox.mark_failed(self.db, row, owner, exc.reason, self.claims.lease_seconds, event)

    # -- upkeep ---------------------------------------------------------------------------
    def recover(self) -> list[int]:
        """Take over replies whose owner died or whose lease ran out, and queued ones that are due."""
        ids = self.claims.recover(OUTBOX)
        if ids:
            self.dispatch(OUTBOX, ids, 0.0)
        return ids

    def renew(self) -> None:
        self.claims.renew(OUTBOX)

    def purge(self) -> None:
        """Drop finished replies after the dedup window."""
        before = time.time() - self.settings.jobs.dedup_days * 86400
        with self.db.write() as conn:
            purged = outbox.queue.purge_finished(conn, before)
        if purged:
            log.info("purged %d outbox rows", purged)
