"""End to end: signed webhook in -> reply received at the fake platform, zero-latency fake model.

    python bench/e2e.py [--rate 100] [--seconds 10]

Open-loop load (a message every 1/rate seconds, whatever the answers do) from this process; the
latency of a message is the time from sending its webhook to its reply arriving.
"""
from __future__ import annotations

import argparse
import os
import secrets
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent))

import common  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.fake_platform import FakePlatform  # noqa: E402
from tests.support.signing import generic_request  # noqa: E402


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def measure(rate: float, seconds: float) -> dict[str, float]:
    """Open-loop load at `rate` messages/s for `seconds`; latency percentiles in ms and counts."""
    os.environ.setdefault("SMARTBOT_SECRET_KEY", secrets.token_urlsafe(48))
    work = Path(tempfile.mkdtemp(prefix="smartbot-e2e-"))
    model, platform = FakeModel().start(), FakePlatform().start()
    cfg = common.smartbot_config(work, platform.hook_url, {"providers": [
        {"name": "fake", "kind": "openai", "base_url": model.base_url, "model": "fake"}]})
    bot = common.start_gunicorn("smartbot.wsgi:app", work, env={"SMARTBOT_CONFIG": str(cfg)})
    sent: dict[str, float] = {}
    lock = threading.Lock()
    session = requests.Session()
    total = int(rate * seconds)
    interval = 1.0 / rate

    def send(i: int) -> None:
        event = f"e2e-{i}"
        body, headers = generic_request(common.SECRET, {"event_id": event, "chat_id": f"chat-{i % 50}",
                                                        "user_id": f"user-{i % 50}", "text": f"hi {i}"})
        with lock:
            sent[event] = time.perf_counter()
        requests.post(bot.url + "/webhooks/generic", data=body, headers=headers, timeout=10)

    threads = []
    start = time.perf_counter()
    for i in range(total):
        target = start + i * interval
        delay = target - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        t = threading.Thread(target=send, args=(i,), daemon=True)
        t.start()
        threads.append(t)
    for t in threads:
        t.join()
    deadline = time.monotonic() + 30
    while len(platform.received) < total and time.monotonic() < deadline:
        time.sleep(0.05)
    latencies = []
    arrivals = {r["json"]["reply_to"]: r["at"] for r in platform.received}
    # the platform records wall-clock time; convert our perf_counter stamps through one offset
    offset = time.time() - time.perf_counter()
    for event, t0 in sent.items():
        if event in arrivals:
            latencies.append((arrivals[event] - (t0 + offset)) * 1000)
    bot.stop()
    model.stop()
    platform.stop()
    session.close()
    return {"messages": total, "replied": len(latencies), "model_calls": model.calls(),
            "p50": percentile(latencies, 0.5), "p90": percentile(latencies, 0.9), "p99": percentile(latencies, 0.99),
            "max": max(latencies, default=float("nan")),
            "mean": statistics.mean(latencies) if latencies else float("nan")}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rate", type=float, default=100)
    parser.add_argument("--seconds", type=float, default=10)
    args = parser.parse_args()
    r = measure(args.rate, args.seconds)
    print(f"messages {r['messages']}, replied {r['replied']}, model calls {r['model_calls']}")
    print(f"end-to-end ms: p50 {r['p50']:.1f}  p90 {r['p90']:.1f}  p99 {r['p99']:.1f}  max {r['max']:.1f}  "
          f"mean {r['mean']:.1f}")


if __name__ == "__main__":
    main()
