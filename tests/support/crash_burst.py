"""kill -9 during a burst of webhooks: first the gunicorn workers, then the whole app, then a restart.

Shared by tests/test_reliability_kill.py (a few hundred messages) and bench/reliability_kill.py
(1,000 and more), so the long version runs exactly what the test checks.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

from .burst import Burst, Tally, final_tally, message, tally, wait_answered


@dataclass
class KillReport:
    count: int
    result: Tally
    statuses: dict[Any, int]
    server_errors: dict[Any, int]
    killed_workers: int
    pending_at_worker_kill: int        # acknowledged, not yet answered, when the workers died
    pending_at_app_kill: int           # the same when the whole app died
    ack_latency: str
    seconds: float

    def lines(self) -> list[str]:
        r = self.result
        return [f"messages sent {self.count}, acknowledged {len(r.sent)}, answered {len(r.replies)}",
                f"workers killed {self.killed_workers} with {self.pending_at_worker_kill} messages unanswered; "
                f"whole app killed with {self.pending_at_app_kill} unanswered",
                f"unanswered {len(r.unanswered)}, answered twice {len(r.answered_twice)}, "
                f"retransmitted (same delivery id) {r.retransmitted}",
                f"webhook answers on the way: {dict(self.statuses)}",
                f"ack latency (acknowledged POSTs): {self.ack_latency}",
                f"total {self.seconds:.1f} s"]


def _pending(burst: Burst, platform: Any) -> int:
    answered = set(tally(platform.wait_for(0, 0), burst.acked).replies)
    return len(set(burst.acked) - answered)


def kill_during_burst(app: Any, platform: Any, count: int, chats: int = 20, timeout: float = 120.0) -> KillReport:
    """Send `count` messages; kill -9 the workers at a third acknowledged, the whole app (master and
    workers) at two thirds, start it again, wait until every acknowledged message is answered, and
    stop the app before the final count."""
    started = time.monotonic()
    burst = Burst(app.url, app.secret, [message(i, chats, "kill") for i in range(count)]).start()
    burst.wait_acked(count // 3)
    pending_workers = _pending(burst, platform)
    killed = len(app.kill_workers())
    app.wait_ready(timeout=60)
    burst.wait_acked(2 * count // 3)
    pending_app = _pending(burst, platform)
    app.kill_all()
    app.start(timeout=60)
    burst.join(timeout)
    wait_answered(lambda: platform.wait_for(0, 0), burst.acked, timeout)
    result = final_tally(app, platform, burst.acked)
    return KillReport(count, result, dict(burst.statuses), burst.server_errors(), killed, pending_workers,
                      pending_app, burst.ack_latency(), time.monotonic() - started)
