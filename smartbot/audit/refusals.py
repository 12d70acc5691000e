"""Refused requests from outside (a forged webhook, a scrape without the metrics token) written to the
audit log at most once per source, target, reason and interval.

A flood of refused requests must not flood the audit log, nor make each refusal cost a write: the
count per key lives in the shared store (Redis when [cache] url is set, so every node counts
together). This module never raises: a refusal that cannot be audited is logged and the request is
still refused.
"""
from __future__ import annotations

import logging
from typing import Any

from . import record

log = logging.getLogger(__name__)


class RefusalLog:
    def __init__(self, db: Any, store: Any, interval: float) -> None:
        self._db = db
        self._store = store
        self._interval = max(interval, 0.001)

    def record(self, action: str, source: str, target: str, reason_key: str, details: dict[str, Any]) -> bool:
        """Audit `action` by `source` against `target` unless the same (target, reason, source) was
        audited within the interval. Returns whether a row was written."""
        if self._store.incr(f"refused:{target}:{reason_key}:{source}", self._interval) > 1:
            return False
        log.warning("refused %s from %s: %s", target, source or "unknown", details.get("reason", reason_key))
        try:
            with self._db.write() as conn:
                record(conn, action, source or "unknown", target, "refused", details)
        except Exception:
            log.exception("could not audit a refused request (%s)", action)
            return False
        return True
