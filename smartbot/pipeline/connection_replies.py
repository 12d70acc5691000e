"""Replies only a connection's holder can send, sent by that holder.

WeCom's AI bot takes replies only over its long connection, held by one process of the deployment
(gateway/connections.py), while any process may have written the reply: a Celery worker, or the
process that recovered a dead one's work. Delivery leaves such a reply in the outbox for the holder
(`outbox.leave_for_holder`) and rings the channel's bell. Here, in every process with a channel in
connect mode, a thread waits while this process holds no such connection; while it holds one, it
takes the replies left for it at each ring (or every POLL_SECONDS, in case a ring was lost) and
delivers them like any other reply: the chat's order, retries and the once-only finish stay
Delivery's.

A holder that dies holding replies it took leaves them leased to a dead process: a recovery sweep
takes them over, cannot send them, and leaves them for the holder again, by then the process that
took the connection over.
"""
from __future__ import annotations

import logging
import threading
from typing import Any

from ..channels.base import connects
from ..gateway import outbox
from .delivery import Delivery

log = logging.getLogger(__name__)

POLL_SECONDS = 1.0          # between looks for replies while holding, when no ring came
IDLE_SECONDS = 0.5          # between looks at whether this process holds a connection now


class ConnectionReplies:
    def __init__(self, channels: dict[str, Any], delivery: Delivery) -> None:
        self.channels = {name: channel for name, channel in channels.items() if connects(channel.config)}
        self.delivery = delivery
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None or not self.channels:
            return
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="smartbot-connection-replies", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _serve(self) -> None:
        while not self._stop.is_set():
            held = sorted(name for name, channel in self.channels.items() if channel.holds_reply_connection())
            if not held:
                self._stop.wait(IDLE_SECONDS)
                continue
            try:
                taken = sum(self.send_left(name) for name in held)
            except Exception:
                log.exception("sending the replies left for this connection's holder failed; trying again")
                taken = 0
            if not taken:
                self.delivery.bell.wait({outbox.holder_of(name) for name in held}, POLL_SECONDS, self._stop)

    def send_left(self, channel: str) -> int:
        """Take the replies left for the holder of `channel` and deliver them; how many were taken."""
        claims = self.delivery.claims
        ids = outbox.take_left_for_holder(self.delivery.db, channel, claims.owner, claims.lease_seconds)
        for row_id in ids:
            if self._stop.is_set():
                break           # taken, not sent: when this process is gone a sweep leaves them here again
            try:
                self.delivery.deliver(row_id)
            except Exception:
                self.delivery.retry_later(row_id)
        return len(ids)
