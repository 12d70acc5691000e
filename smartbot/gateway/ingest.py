"""Steps 1-6 of the message path: verify, handshake, parse, accept (one INSERT), ack, dispatch.

A platform whose signature does not cover the body (DingTalk) has each verified signature claimed
in the shared signature ledger right after `verify`, so one signature never vouches for two bodies.

Nothing here waits for a model. A refused request is counted, audited (at most once per source,
reason and interval, so a flood of forged requests cannot flood the audit log) and never parsed
further than needed to refuse it.

Under load (webhooks piling up in this process or arriving as a burst, see jobs/pressure.py; or
any process's spooled messages still on their way), "accept" is an append to the server's ack
spool instead, and a mover stores and dispatches the message a moment later (see spool.py). A
replay that takes the spool path is answered "duplicate" while its first copy is still spooled by
this process; otherwise it is answered "accepted" and dropped when it reaches the inbox, so it is
never answered twice. (Looking the key up in the inbox for the answer's sake cost more than the
spool saved: 282 against 186 us of CPU per message in bench/ack_cost.py, each read giving up the
GIL for SQLite.) While spooled messages wait and the spool cannot take this one (the database is
away, or `Spool.max_waiting_bytes` wait), it gets 503 (retry later), as it would from a direct
INSERT: storing it directly would put it ahead of them.
"""
from __future__ import annotations

import collections
import json
import logging
import time
from typing import Any, Callable

from .. import request_ids
from ..audit.refusals import RefusalLog
from ..channels.base import WebRequest, WebResponse
from ..db import Database, storage_problem
from ..jobs.liveness import owner_is_dead
from ..jobs.pressure import IngestPressure
from ..errors import ChannelNotConfigured, RequestRefused, StorageUnavailable
from ..messages import InboundMessage
from ..shared_state import LocalStore
from ..ops import metrics
from . import inbox
from .signatures import SignatureLedger
from .spool import Spool, Spooled

log = logging.getLogger(__name__)


class Ingest:
    def __init__(self, db: Database, channels: dict[str, Any], owner: Callable[[], str | None],
                 lease_seconds: float, on_accepted: Callable[[int, bool, InboundMessage], None],
                 refusal_interval: float, pressure: IngestPressure | None = None, store: Any = None,
                 spool_dir: str | None = None, process_owner: str | None = None) -> None:
        self.db = db
        self.signatures = SignatureLedger(db)
        self.pressure = pressure or IngestPressure()
        self.channels = channels
        self._owner = owner
        # This process's own owner id: spooled records name the process that acknowledged them.
        self._process_owner = process_owner if process_owner is not None else owner()
        self.lease_seconds = lease_seconds
        self._on_accepted = on_accepted
        self.refusals = RefusalLog(db, store if store is not None else LocalStore(), refusal_interval)
        self.spool = (Spool(spool_dir, self._move_spooled, _decode_spooled, storage_problem, claim=self._claim_spooled)
                      if spool_dir else None)

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
        spool = self.spool
        if spool is not None and (self.pressure.busy() or spool.busy()):
            key = (msg.channel, msg.event_id)
            if spool.pending(key):
                return inbox.Accepted(None, False)
            owner = self._owner()
            if spool.append(Spooled(key, _spool_payload(owner, inbox.record_of(msg)), msg, owner)):
                return inbox.Accepted(None, False, spooled=True)
            if spool.busy():
                # Spooled messages wait: storing this one directly could put it ahead of earlier
                # messages of its chat, so the platform is asked to retry instead.
                raise StorageUnavailable(spool.stalled() or "too many messages are waiting to be stored; retry later")
        try:
            result = inbox.accept(self.db, msg, self._owner(), self.lease_seconds)
        except Exception as exc:
            reason = storage_problem(exc)
            if reason is None:
                raise
            log.error("could not store %s/%s: %s", msg.channel, msg.event_id, exc)
            raise StorageUnavailable(reason) from None
        log.debug("%s %s/%s", "duplicate" if result.duplicate else "accepted", msg.channel, msg.event_id)
        if result.row_id is not None:
            self._on_accepted(result.row_id, result.leased, msg)
        return result

    def _move_spooled(self, items: list[Spooled]) -> set[tuple[str, str]]:
        """Store a batch from the spool in one transaction, each message leased to the process that
        acknowledged it (as the direct path leases to itself), and start work on this process's
        own; the keys handed on here. The other processes claim theirs (`_claim_spooled`)."""
        owners = self._lease_owners(items)
        results = inbox.accept_many(self.db, [(item.message, _record_part(item.payload)) for item in items],
                                    None, self.lease_seconds, owners=owners)
        stored = [item.key[0] for item, result in zip(items, results) if result.row_id is not None]
        for channel, n in collections.Counter(stored).items():
            metrics.count("webhook_spooled_total", n, channel=channel)
        handed = set()       # nothing left for `_claim_spooled` to do about these in this process
        for item, owner, result in zip(items, owners, results):
            if result.row_id is None:
                log.debug("duplicate %s/%s dropped as it left the spool", *item.key)
                handed.add(item.key)
            elif owner == self._process_owner or not result.leased:
                handed.add(item.key)
                self._dispatch(result.row_id, result.leased, item)
        return handed

    def _lease_owners(self, items: list[Spooled]) -> list[str | None]:
        """Each record's owner; this process (when its pool has room) for a record that names none
        (its writer's pool was full) or names a process that has died since."""
        alive: dict[str, bool] = {}
        owners = []
        for item in items:
            owner = item.owner
            if owner and owner != self._process_owner and owner not in alive:
                alive[owner] = not owner_is_dead(owner)
            owners.append(owner if owner and (owner == self._process_owner or alive[owner]) else self._owner())
        return owners

    def _claim_spooled(self, items: list[Spooled]) -> None:
        """This process's spooled messages that another process's mover stored, leased to this
        process: start work on them (one read for the batch)."""
        if self._process_owner is None:
            return
        by_key = {item.key: item for item in items if item.owner == self._process_owner}
        if not by_key:
            return
        for row_id, key in inbox.leased_to(self.db, self._process_owner, list(by_key)):
            self._dispatch(row_id, True, by_key[key])

    def _dispatch(self, row_id: int, leased: bool, item: Spooled) -> None:
        try:
            self._on_accepted(row_id, leased, item.message)
        except Exception:        # it is stored; its lease runs out and another worker takes it
            log.exception("could not dispatch %s/%s", *item.key)

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


def _spool_payload(owner: str | None, record: str) -> bytes:
    """A spool record: the owner it is to be leased to (empty: none), a newline, the inbox payload."""
    return f"{owner or ''}\n{record}".encode()


def _record_part(payload: bytes) -> str:
    return payload.decode().partition("\n")[2] if not payload.startswith(b"{") else payload.decode()


def _decode_spooled(payload: bytes) -> Spooled:
    owner = payload.partition(b"\n")[0].decode() if not payload.startswith(b"{") else ""
    msg = InboundMessage.from_record(json.loads(_record_part(payload)))
    return Spooled((msg.channel, msg.event_id), payload, msg, owner or None)
