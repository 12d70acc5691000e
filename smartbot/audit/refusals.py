"""Auditing refused requests without letting a flood of them flood the audit log.

A refusal (a forged webhook, an API call with a bad token) is written at most once per `key` (the
caller builds it from the source address and the reason) and `[audit] refusal_audit_interval`,
counted in the shared store (every process and node when `[cache] url` is Redis; this process
otherwise). The rest are only counted by the caller's metrics.

Never raises: a refusal is answered whether or not its audit row could be written. The caller
passes only what may be stored: a reason and an address, never the credential that was refused.
"""
from __future__ import annotations

import logging
from typing import Any

from . import record

log = logging.getLogger(__name__)


def record_refusal(db: Any, store: Any, interval: float, key: str, action: str, actor: str, target: str,
                   details: dict[str, Any]) -> bool:
    """Audit one refusal unless `key` was audited within `interval` seconds; True when written."""
    if store.incr(key, max(interval, 0.001)) > 1:
        return False
    try:
        with db.write() as conn:
            record(conn, action, actor, target, "refused", details)
    except Exception:
        log.exception("could not audit a refused request (%s)", action)
    return True
