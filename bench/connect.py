"""Connect mode against webhook mode, per platform, in the same run: events a second and the latency
each mode adds per event, from the moment the platform has the event to the reply at its send API.

    python bench/connect.py [--events 300] [--singles 30] [--workers 2]

Telegram today (other platforms add a row each as their connectors land). The app runs under
gunicorn with the shipped settings; the Bot API is the tests' fake (long polling, sendMessage) and
the model a zero-latency fake, all on loopback. Webhook mode: the bench POSTs each update, signed
with the secret token, from 16 threads. Connect mode: the bench queues each update at the fake,
where SmartBot's poll takes it. Two figures per mode:
- events/s: a burst of --events updates, from the first one out to the last reply in;
- latency: --singles updates one at a time, each from being available to its reply (the median and
  the 95th percentile); "added" is connect's median less webhook's.
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any, Callable

import requests

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import fake_telegram  # noqa: E402
from tests.support.apps import GunicornApp  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.fake_telegram import FakeTelegram, text_update  # noqa: E402

SECRET = "bench-telegram-secret-0123456789"
BENCH_SECRET = "k" * 48


def _config(workdir: Path, mode: str, telegram: FakeTelegram, model: FakeModel) -> dict[str, Any]:
    section: dict[str, Any] = {"bot_token": fake_telegram.TOKEN, "api_base": telegram.base,
                               "bot_username": fake_telegram.USERNAME, "mode": mode}
    if mode == "webhook":
        section["secret_token"] = SECRET
    return {"database_url": f"sqlite:///{workdir / 'smartbot.db'}",
            "channels": {"telegram": section},
            "providers": [{"name": "main", "base_url": model.base_url, "model": "bench"}],
            "quotas": {"messages_per_minute_per_role": {}},
            "log_level": "WARNING"}


class _Mode:
    """One mode's app, and how the platform hands it an event."""

    def __init__(self, mode: str, workers: int) -> None:
        self.mode = mode
        self.telegram = FakeTelegram().start()
        self.model = FakeModel().start()
        self.workdir = Path(tempfile.mkdtemp(prefix=f"smartbot-bench-connect-{mode}-"))
        self.app = GunicornApp(_config(self.workdir, mode, self.telegram, self.model), self.workdir, workers=workers,
                               env={"SMARTBOT_SECRET_KEY": BENCH_SECRET}).start(timeout=60)
        self._http = requests.Session()
        self._next_id = 0

    def deliver(self, chat: int, text: str) -> None:
        self._next_id += 1
        update = text_update(chat, self._next_id, text)
        if self.mode == "connect":
            self.telegram.push(update)
            return
        update["update_id"] = 900_000 + self._next_id
        res = requests.post(self.app.url + "/webhooks/telegram", json=update, timeout=10,
                            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET})
        if res.status_code != 200:
            raise SystemExit(f"webhook answered {res.status_code}: {res.text[:200]}")

    def stop(self) -> None:
        self.app.stop()
        self.telegram.stop()
        self.model.stop()


def _warm(mode: _Mode) -> None:
    mode.deliver(1, "warm up")
    if len(mode.telegram.wait_sent(1, timeout=60)) < 1:
        raise SystemExit(f"{mode.mode}: no reply to the first update:\n{mode.app.log()}")


def _burst(mode: _Mode, events: int) -> float:
    before = len(mode.telegram.sent)
    started = time.time()
    send: Callable[[int], None] = lambda i: mode.deliver(10_000 + i % 200, f"burst {i}")  # noqa: E731
    if mode.mode == "webhook":
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(send, range(events)))
    else:
        for i in range(events):
            send(i)
    sent = mode.telegram.wait_sent(before + events, timeout=300)
    if len(sent) < before + events:
        raise SystemExit(f"{mode.mode}: {len(sent) - before} of {events} replies arrived")
    return events / (sent[-1]["at"] - started)


def _singles(mode: _Mode, count: int) -> list[float]:
    latencies = []
    for i in range(count):
        before = len(mode.telegram.sent)
        started = time.time()
        mode.deliver(20_000 + i, f"single {i}")
        sent = mode.telegram.wait_sent(before + 1, timeout=30)
        latencies.append(sent[before]["at"] - started)
        time.sleep(0.05)
    return latencies


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--singles", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    results = {}
    for name in ("webhook", "connect"):
        mode = _Mode(name, args.workers)
        try:
            _warm(mode)
            latencies = _singles(mode, args.singles)
            rate = _burst(mode, args.events)
            results[name] = (rate, statistics.median(latencies), sorted(latencies)[int(0.95 * (len(latencies) - 1))])
            if mode.telegram.overlaps:
                raise SystemExit(f"{name}: {len(mode.telegram.overlaps)} overlapping getUpdates calls")
        finally:
            mode.stop()
    print(f"telegram, {args.workers} gunicorn workers, {args.events} events a burst, {args.singles} single events")
    print(f"{'mode':<8} {'events/s':>9} {'median ms':>10} {'p95 ms':>8}")
    for name, (rate, median, p95) in results.items():
        print(f"{name:<8} {rate:>9.1f} {median * 1000:>10.1f} {p95 * 1000:>8.1f}")
    added = (results["connect"][1] - results["webhook"][1]) * 1000
    print(f"telegram connect mode adds {added:.1f} ms per event (median) and runs at "
          f"{results['connect'][0] / results['webhook'][0]:.2f}x the webhook's events/s")


if __name__ == "__main__":
    main()
