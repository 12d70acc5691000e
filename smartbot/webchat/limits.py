"""Bounds on the anonymous web chat: messages per chat (its cookie), per client address, and one
budget for all visitors together, so nobody spends the model without bound, with a cookie, without
one, or through many workers.

Counted in fixed windows in the shared store (Redis with `[cache] url`, else the database), so every
worker and node counts alike. A window this process has seen full refuses without counting again:
a flood of refused messages costs no writes. Never lets a message past a full window.
"""
from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass
from typing import Any

from .. import audit
from ..settings.sections import WebchatSettings
from ..storage.shared_state import LocalStore

log = logging.getLogger(__name__)

AUDIT_WINDOW = 60           # the first refusal per address and minute is audited


@dataclass(frozen=True)
class Refusal:
    limit: str              # chat | address | guests
    reason: str
    retry_after: int        # seconds until the window that refused ends


@dataclass(frozen=True)
class _Bound:
    name: str
    most: int
    window: int
    reason: str


class GuestLimits:
    def __init__(self, store: Any, db: Any, settings: WebchatSettings) -> None:
        self._store = store
        self._db = db
        self._seen_full = LocalStore(10000)
        self._bounds = (
            _Bound("address", settings.messages_per_minute_per_address, 60,
                   f"at most {settings.messages_per_minute_per_address} messages a minute from one address"),
            _Bound("chat", settings.messages_per_minute_per_chat, 60,
                   f"at most {settings.messages_per_minute_per_chat} messages a minute from one chat"),
            _Bound("guests", settings.guest_messages_per_hour, 3600,
                   f"the web chat's guests have sent the {settings.guest_messages_per_hour} messages it takes "
                   "an hour; try again later"),
        )

    def admit(self, chat_id: str, address: str, now: float | None = None) -> Refusal | None:
        """Count one message against each bound in turn (a message one bound refuses does not use up
        the next ones), or the first refusal."""
        now = time.time() if now is None else now
        for bound, scope in zip(self._bounds, (address, chat_id, "")):
            start = int(now // bound.window) * bound.window
            key = f"webchat:{bound.name}:{scope}:{start}"
            left = start + bound.window - now
            if self._seen_full.get(key) is None:
                if self._store.incr(key, bound.window) <= bound.most:
                    continue
                self._seen_full.set(key, b"1", left)
            refusal = Refusal(bound.name, bound.reason, max(1, math.ceil(left)))
            self._audit_first(address, refusal, now)
            return refusal
        return None

    def _audit_first(self, address: str, refusal: Refusal, now: float) -> None:
        """Audit the first refusal per address and minute (across processes), log it once."""
        key = f"webchat-refused:{address}:{int(now // AUDIT_WINDOW)}"
        if self._seen_full.get(key) is not None:
            return
        self._seen_full.set(key, b"1", AUDIT_WINDOW)
        if self._store.incr(key, AUDIT_WINDOW) > 1:
            return
        log.warning("refused web chat messages from %s: %s", address, refusal.reason)
        try:
            with self._db.write() as conn:
                audit.record(conn, "webchat.refused", address or "unknown", "webchat", "refused",
                             {"limit": refusal.limit, "reason": refusal.reason})
        except Exception:        # the refusal stands whether or not it could be written down
            log.exception("could not audit a refused web chat message")
