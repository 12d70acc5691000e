"""Steps 1-6 of the message path: verify, handshake, parse, accept (one INSERT), ack, dispatch.

A platform whose signature does not cover the body (DingTalk) has each verified signature claimed
in the shared signature ledger right after `verify`, so one signature never vouches for two bodies.

Nothing here waits for a model. A refused request is counted, audited (at most once per source,
reason and interval, so a flood of forged requests cannot flood the audit log) and never parsed
further than needed to refuse it. Each request is marked in and out of `pressure` (jobs/pressure.py),
so the job pool steps back while webhooks pile up.
"""
from __future__ import annotations

import logging
import time
from typing import Any, Callable

from ..telemetry import request_ids
from ..audit.refusals import RefusalLog
from ..channels.base import WebRequest, WebResponse
from ..storage.db import Database, storage_problem
from ..jobs.pressure import IngestPressure
from ..errors import ChannelNotConfigured, RequestRefused, StorageUnavailable
from ..messages import InboundMessage
from ..storage.shared_state import LocalStore
from ..telemetry import metrics
from . import inbox
from .signatures import SignatureLedger

log = logging.getLogger(__name__)


class Ingest:
    def __init__(self, db: Database, channels: dict[str, Any], owner: Callable[[], str | None],
                 lease_seconds: float, on_accepted: Callable[[int, bool, InboundMessage], None],
                 refusal_interval: float, pressure: IngestPressure | None = None, store: Any = None) -> None:
        self.db = db
        self.signatures = SignatureLedger(db)
        self.pressure = pressure or IngestPressure()
        self.channels = channels
        self._owner = owner
        self.lease_seconds = lease_seconds
        self._on_accepted = on_accepted
        self.refusals = RefusalLog(db, store if store is not None else LocalStore(), refusal_interval)

    def handle(self, channel_name: str, req: WebRequest) -> WebResponse:
        started = time.perf_counter()
        self.pressure.enter()
        try:
            channel = self.channels.get(channel_name)
            if channel is None or not channel.accepts_webhooks:
                log.warning("webhook for channel %r, which is not configured here", channel_name)
                raise ChannelNotConfigured(f"channel {channel_name!r} is not configured on this server")
            channel.verify(req)
            once = channel.single_use(req)
            if once is not None:
                self.signatures.claim(channel_name, once)
            shake = channel.handshake(req)
            if shake is not None:
                metrics.count("webhook_requests_total", channel=channel_name, outcome="handshake")
                return shake
            messages = channel.parse(req)
            accepted, duplicates = [], 0
            for msg in messages:
                if self.accept(msg).duplicate:
                    duplicates += 1
                else:
                    accepted.append(msg)
            outcome = "accepted" if accepted else ("duplicate" if duplicates else "ignored")
            metrics.count("webhook_requests_total", channel=channel_name, outcome=outcome)
            return channel.acknowledge(req, accepted, duplicates)
        except RequestRefused as exc:
            return self.refuse(channel_name, req, exc)
        finally:
            self.pressure.leave()
            metrics.observe("webhook_seconds", time.perf_counter() - started, channel=channel_name)

    def accept(self, msg: InboundMessage) -> inbox.Accepted:
        """Store one message (a no-op for a duplicate) and start work on it when it is first in line."""
        msg.request_id = msg.request_id or request_ids.current() or request_ids.new_id()
        try:
            result = inbox.accept(self.db, msg, self._owner(), self.lease_seconds)
        except Exception as exc:
            reason = storage_problem(exc)
            if reason is None:
                raise
            log.error("could not store %s/%s: %s", msg.channel, msg.event_id, exc)
            raise StorageUnavailable(reason) from None
        log.debug("%s %s/%s", "duplicate" if result.duplicate else "accepted", msg.channel, msg.event_id)
        if result.duplicate and msg.press:      # the same press again: a platform's retry, or a replay
            self.refusals.record("approval.press_refused", f"{msg.channel}:{msg.user_id}",
                                 f"press:{msg.channel}:{msg.event_id}"[:200], "replayed",
                                 {"reason": "the same press again (its callback id was seen before)",
                                  "chat": msg.chat_key})
        if result.row_id is not None:
            self._on_accepted(result.row_id, result.leased, msg)
        return result

    def refuse(self, channel_name: str, req: WebRequest, exc: RequestRefused) -> WebResponse:
        """Count and (rate-limited) audit a refused request; the response says why."""
        if isinstance(exc, StorageUnavailable):     # our trouble, not the sender's: nothing to audit
            metrics.count("webhook_refused_total", channel=channel_name, reason=exc.metric_reason)
            return WebResponse(exc.status, {"error": exc.reason}, headers={"Retry-After": str(exc.retry_after)})
        self._record_refusal(channel_name, req, exc)
        return WebResponse(exc.status, {"error": exc.reason})

    def _record_refusal(self, channel_name: str, req: WebRequest, exc: RequestRefused) -> None:
        known = channel_name if channel_name in self.channels else "(unknown)"
        metrics.count("webhook_refused_total", channel=known, reason=exc.metric_reason)
        self.refusals.record("webhook.refused", req.remote_addr, f"channel:{known}", exc.metric_reason,
                             {"status": exc.status, "reason": exc.reason})

