"""Faults during a burst, each as one function the tests run small and bench/reliability_*.py runs
long: another process holding SQLite's write lock, the platform's API failing, the model provider
down. Each returns a report whose `lines()` the bench prints and whose fields the tests assert on.
"""
from __future__ import annotations

import collections
import json
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .burst import Burst, Tally, message, tally, wait_answered
from .waiting import wait_until

ROOT = Path(__file__).resolve().parent.parent.parent


@dataclass
class Report:
    count: int
    result: Tally
    statuses: dict[Any, int]
    seconds: float
    extra: dict[str, Any] = field(default_factory=dict)

    def lines(self) -> list[str]:
        r = self.result
        return [f"messages sent {self.count}, acknowledged {len(r.sent)}, answered {len(r.replies)}",
                f"unanswered {len(r.unanswered)}, answered twice {len(r.answered_twice)}, "
                f"retransmitted (same delivery id) {r.retransmitted}",
                f"webhook answers: {self.statuses}"] + \
               [f"{k}: {v}" for k, v in self.extra.items()] + [f"total {self.seconds:.1f} s"]


def busy_writer_burst(app: Any, platform: Any, db_path: str, count: int, writer_seconds: float,
                      pace: float, threads: int = 8) -> Report:
    """A burst while tests/support/sqlite_writer.py holds write transactions in another process."""
    started = time.monotonic()
    writer = subprocess.Popen([sys.executable, "-m", "tests.support.sqlite_writer", db_path, str(writer_seconds)],
                              cwd=ROOT, stdout=subprocess.PIPE, text=True)
    time.sleep(0.3)                      # the writer is in its first transaction
    burst = Burst(app.url, app.secret, [message(i, 15, "busy") for i in range(count)], threads=threads,
                  pace=pace).start()
    burst.join(max(120.0, writer_seconds * 3))
    out, _ = writer.communicate(timeout=writer_seconds + 120)
    writer_report = json.loads(out)
    result = wait_answered(lambda: platform.wait_for(0, 0), burst.acked, 120)
    return Report(count, result, dict(burst.statuses), time.monotonic() - started,
                  {"other writer commits": writer_report["commits"], "other writer errors": writer_report["errors"]})


def platform_api_outage(app: Any, platform: Any, per_phase: int, chats: int, phase_seconds: float) -> Report:
    """Replies queue while the platform answers 503, then 429 with Retry-After: 2, then hangs past the
    read timeout; then it recovers. `extra` has the attempts by status and the out-of-order chats."""
    started = time.monotonic()
    sent: list[str] = []

    def send(first: int) -> None:
        for i in range(first, first + per_phase):
            payload = message(i, chats, "api")
            assert app.post_generic(payload).status_code == 200
            sent.append(payload["event_id"])

    for phase, (status, headers, stall) in enumerate([(503, {}, 0.0), (429, {"Retry-After": "2"}, 0.0),
                                                      (504, {}, 0.6)]):
        platform.outage(status, headers, stall)
        send(phase * per_phase)
        time.sleep(phase_seconds)
    delivered_during = len(platform.received)
    platform.recover()
    result = wait_answered(lambda: platform.wait_for(0, 0), sent, 120)
    time.sleep(0.5)
    result = tally(platform.wait_for(0, 0), sent)
    per_chat: dict[str, list[int]] = collections.defaultdict(list)
    for r in platform.wait_for(0, 0):
        per_chat[r["json"]["chat_id"]].append(int(r["json"]["text"].removeprefix("echo: m")))
    tries: dict[str, list[tuple[float, int]]] = collections.defaultdict(list)
    for a in list(platform.log):
        tries[a["json"]["event_id"]].append((a["at"], a["status"]))
    gaps = [b[0] - a[0] for attempts in tries.values() for a, b in zip(attempts, attempts[1:]) if a[1] == 429]
    return Report(len(sent), result, {200: len(sent)}, time.monotonic() - started, {
        "delivered during the outage": delivered_during,
        "attempts by status": dict(collections.Counter(a["status"] for a in list(platform.log))),
        "chats out of order": sorted(c for c, n in per_chat.items() if n != sorted(n)),
        "chats": len(per_chat),
        "shortest wait after a 429 (s)": round(min(gaps), 2) if gaps else None})


def provider_outage_burst(app: Any, platform: Any, main: Any, backup: Any, count: int, pace: float,
                          ops_chat: str, threads: int = 2) -> Report:
    """The main model provider goes down at a fifth of the burst and comes back once the alert
    arrived and the fallback answered a while; `extra` has the admins' chat messages."""
    started = time.monotonic()

    def ops_texts() -> list[str]:
        return [r["json"]["text"] for r in platform.wait_for(0, 0) if r["json"]["chat_id"] == ops_chat]

    burst = Burst(app.url, app.secret, [message(i, 10, "out") for i in range(count)], threads=threads,
                  pace=pace).start()
    burst.wait_acked(count // 5, 60)
    main.down = True
    alerted = wait_until(lambda: len(ops_texts()) >= 1, 30)
    wait_until(lambda: backup.calls() >= 10, 30)
    main.down = False
    recovered_mid_burst = burst.acked_count() < count
    wait_until(lambda: len(ops_texts()) >= 2, 30)
    burst.join(300)
    result = wait_answered(lambda: platform.wait_for(0, 0), burst.acked, 120)
    time.sleep(1.0)                      # a second alert would arrive now
    result = tally(platform.wait_for(0, 0), burst.acked)
    texts = {r["json"]["reply_to"]: r["json"]["text"] for r in platform.wait_for(0, 0) if r["json"]["reply_to"]}
    wrong = sorted(e for e, t in texts.items() if t != f"echo: m{e.split('-')[1]}")
    return Report(count, result, dict(burst.statuses), time.monotonic() - started, {
        "alert arrived": alerted, "provider back before the burst ended": recovered_mid_burst,
        "admins' chat": ops_texts(), "answered by the fallback": backup.calls(),
        "answered by main": main.calls(), "replies that are not the model's answer": wrong[:10]})
