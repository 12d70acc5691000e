"""Faults during a burst, each as one function the tests run small and bench/reliability_*.py runs
long: another process holding SQLite's write lock, the platform's API failing, the model provider
down. Each returns a report whose `lines()` the bench prints and whose fields the tests assert on.
"""
from __future__ import annotations

import collections
import json
import re
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .burst import Burst, Tally, final_tally, message, tally, wait_answered
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
                  {"ack latency": burst.ack_latency(), "other writer commits": writer_report["commits"],
                   "other writer errors": writer_report["errors"]})


def platform_api_outage(app: Any, platform: Any, per_phase: int, chats: int, phase_seconds: float,
                        hang: float = 0.6) -> Report:
    """Replies queue while the platform answers 503, then 429 with Retry-After: 2, then hangs `hang`
    seconds (past the read timeout) before its 504; then it recovers. `extra` has the attempts by
    status and the out-of-order chats."""
    started = time.monotonic()
    sent: list[str] = []

    def send(first: int) -> None:
        for i in range(first, first + per_phase):
            payload = message(i, chats, "api")
            assert app.post_generic(payload).status_code == 200
            sent.append(payload["event_id"])

    for phase, (status, headers, stall) in enumerate([(503, {}, 0.0), (429, {"Retry-After": "2"}, 0.0),
                                                      (504, {}, hang)]):
        platform.outage(status, headers, stall)
        send(phase * per_phase)
        time.sleep(phase_seconds)
    delivered_during = len(platform.received)
    platform.recover()
    wait_answered(lambda: platform.wait_for(0, 0), sent, 120)
    result = final_tally(app, platform, sent)
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
                          ops_chat: str, threads: int = 2, fallback_answers: int = 10) -> Report:
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
    wait_until(lambda: backup.calls() >= fallback_answers, 60)
    main.down = False
    recovered_mid_burst = burst.acked_count() < count
    wait_until(lambda: len(ops_texts()) >= 2, 30)
    burst.join(300)
    wait_answered(lambda: platform.wait_for(0, 0), burst.acked, 120)
    time.sleep(1.0)                      # a second alert would arrive now (the app answers on afterwards)
    result = tally(platform.wait_for(0, 0), burst.acked)
    texts = {r["json"]["reply_to"]: r["json"]["text"] for r in platform.wait_for(0, 0) if r["json"]["reply_to"]}
    wrong = sorted(e for e, t in texts.items() if t != f"echo: m{e.split('-')[1]}")
    return Report(count, result, dict(burst.statuses), time.monotonic() - started, {
        "alert arrived": alerted, "provider back before the burst ended": recovered_mid_burst,
        "admins' chat": ops_texts(), "answered by the fallback": backup.calls(),
        "calls to main (failed ones too)": main.calls(), "ack latency": burst.ack_latency(), "replies that are not the model's answer": wrong[:10]})


SEVENS = re.compile(r"^m\d*7$")          # the messages the rule added mid-burst takes over


def config_change_burst(app: Any, platform: Any, main: Any, alt_provider: str, api: Any, count: int, pace: float,
                        threads: int = 4, settle: float = 1.0) -> Report:
    """Mid-burst, through the admin API: switch the active provider from `main`'s to `alt_provider`
    (created beforehand) at a quarter, add a rule sending "m…7" messages to the /whoami builtin at half.
    `extra` counts the messages that missed a change acknowledged `settle` seconds earlier."""
    started = time.monotonic()
    messages = [message(i, 12, "cfg") for i in range(count)]
    text_of = {m["event_id"]: m["text"] for m in messages}
    burst = Burst(app.url, app.secret, messages, threads=threads, pace=pace).start()
    burst.wait_acked(count // 4, 60)
    assert api.put("/models/active", {"default": alt_provider}).status_code == 200
    switched_at = time.time()
    burst.wait_acked(count // 2, 60)
    rule = api.post("/rules", {"name": "sevens", "position": 1, "match": {"regex": SEVENS.pattern},
                               "action": "builtin", "params": {"name": "whoami"}})
    assert rule.status_code == 201, rule.text
    ruled_at = time.time()
    changed_mid_burst = burst.acked_count() < count
    burst.join(300)
    wait_answered(lambda: platform.wait_for(0, 0), burst.acked, 120)
    result = final_tally(app, platform, burst.acked)
    texts = {r["json"]["reply_to"]: r["json"]["text"] for r in platform.wait_for(0, 0)}
    on_main = {r["json"]["messages"][-1]["content"] for r in list(main.requests)}
    after_switch = [e for e, at in burst.acked_at.items() if at > switched_at + settle and not SEVENS.match(text_of[e])]
    after_rule = [e for e, at in burst.acked_at.items() if at > ruled_at + settle and SEVENS.match(text_of[e])]
    first_second = [e for e, at in burst.acked_at.items() if switched_at < at <= switched_at + settle]
    return Report(count, result, dict(burst.statuses), time.monotonic() - started, {
        "changed mid-burst": changed_mid_burst,
        "answered by alt after the switch": sum(1 for e in after_switch if text_of[e] not in on_main),
        "went to the old provider after the switch (+1 s)": sum(1 for e in after_switch if text_of[e] in on_main),
        "went to the old provider within 1 s of the switch": sum(1 for e in first_second if text_of[e] in on_main),
        "matched the new rule (+1 s)": sum(1 for e in after_rule if not texts.get(e, "echo:").startswith("echo:")),
        "missed the new rule (+1 s)": sum(1 for e in after_rule if texts.get(e, "").startswith("echo:")),
        "other replies not the model's echo": sum(1 for e in burst.acked if not SEVENS.match(text_of[e])
                                                  and texts.get(e) != f"echo: {text_of[e]}"),
        "ack latency": burst.ack_latency()})

