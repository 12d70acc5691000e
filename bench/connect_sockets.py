"""Slack Socket Mode and the Discord Gateway against their webhook modes, in the same run: events a
second and the latency each mode adds per event, from the moment the platform has the event to the
reply at its send API.

    python bench/connect_sockets.py [--events 300] [--singles 30] [--workers 2] [--platforms slack,discord]

The app runs under gunicorn with the shipped settings; the platforms are the tests' fakes (Socket
Mode's websocket and chat.postMessage; the Gateway, channel messages and interaction follow-ups)
and the model a zero-latency fake, all on loopback. Webhook mode: the bench POSTs each event,
signed as the platform signs it (Slack's v0 HMAC, Discord's Ed25519), from 16 threads. Connect
mode: the bench hands each event to the fake, which sends it down the open websocket. Two figures
per mode, as bench/connect.py gives them for Telegram:
- events/s: a burst of --events events, from the first one out to the last reply in;
- latency: --singles events one at a time, each from being available to its reply (the median and
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
from typing import Any

from nacl.signing import SigningKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import fake_discord_gateway as discord_fake  # noqa: E402
from tests.support import fake_slack_socket as slack_fake  # noqa: E402
from tests.support.apps import GunicornApp  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.platform_clients import DiscordSender, SlackSender  # noqa: E402

SLACK_SECRET = "0123456789abcdef0123456789abcdef"
DISCORD_KEY = SigningKey(bytes(range(32)))
BENCH_SECRET = "k" * 48


class _Run:
    """One platform in one mode: its fake, the app, and how the platform hands the app an event."""

    def __init__(self, platform: str, mode: str, workers: int) -> None:
        self.platform, self.mode = platform, mode
        self.fake: Any = (slack_fake.FakeSlackSocket() if platform == "slack" else discord_fake.FakeDiscordGateway()).start()
        self.model = FakeModel().start()
        workdir = Path(tempfile.mkdtemp(prefix=f"smartbot-bench-{platform}-{mode}-"))
        config = {"database_url": f"sqlite:///{workdir / 'smartbot.db'}",
                  "channels": {platform: {**self._section(), "mode": mode, "api_base": self.fake.api_base}},
                  "providers": [{"name": "main", "base_url": self.model.base_url, "model": "bench"}],
                  "quotas": {"messages_per_minute_per_role": {}}, "log_level": "WARNING"}
        self.app = GunicornApp(config, workdir, workers=workers, env={"SMARTBOT_SECRET_KEY": BENCH_SECRET}).start(60)
        self.slack = SlackSender(self.app.url, SLACK_SECRET)
        self.discord = DiscordSender(self.app.url, DISCORD_KEY)
        self._next = 0

    def _section(self) -> dict[str, Any]:
        if self.platform == "slack":
            return {"bot_token": slack_fake.BOT_TOKEN, "signing_secret": SLACK_SECRET, "app_token": slack_fake.APP_TOKEN}
        return {"bot_token": discord_fake.BOT_TOKEN, "application_id": discord_fake.BOT_ID,
                "public_key": DISCORD_KEY.verify_key.encode().hex()}

    def deliver(self, text: str) -> None:
        self._next += 1
        n = self._next
        if self.platform == "slack":
            event = {"type": "message", "channel": "D0BENCH", "channel_type": "im", "user": f"U{n % 50}",
                     "text": text, "ts": f"1795560000.{n:06d}"}
            if self.mode == "connect":
                self.fake.push_event(event)
                return
            answer = self.slack.post({"type": "event_callback", "event_id": f"Ev{n}", "event": event})
        elif self.mode == "connect":
            self.fake.message(text, channel_id=str(1500000000000000000 + n % 50))
            return
        else:
            answer = self.discord.post({
                "type": 2, "id": str(1200000000000000000 + n), "application_id": discord_fake.BOT_ID,
                "token": f"bench-token-{n}", "channel_id": str(1500000000000000000 + n % 50),
                "user": {"id": str(1400000000000000000 + n % 50), "username": "bench"},
                "data": {"name": "ask", "type": 1, "options": [{"name": "text", "type": 3, "value": text}]}})
        if answer.status_code != 200:
            raise SystemExit(f"{self.platform} webhook answered {answer.status_code}: {answer.text[:200]}")

    def wait(self, count: int, timeout: float) -> float:
        """When the `count`-th reply arrived."""
        if len(self.fake.wait_replies(count, timeout)) < count:
            raise SystemExit(f"{self.platform} {self.mode}: {len(self.fake.replies)} of {count} replies arrived\n"
                             f"{self.app.log()[-3000:]}")
        return self.fake.reply_times[count - 1]

    def stop(self) -> None:
        self.app.stop()
        self.fake.stop()
        self.model.stop()


def _measure(run: _Run, events: int, singles: int) -> tuple[float, float, float]:
    if run.mode == "connect":
        run.fake.wait_connected(timeout=60)
    run.deliver("warm up")
    run.wait(1, 60)
    latencies = []
    for i in range(singles):
        started = time.time()
        run.deliver(f"single {i}")
        latencies.append(run.wait(2 + i, 30) - started)
        time.sleep(0.05)
    before = 1 + singles
    started = time.time()
    if run.mode == "webhook":
        with ThreadPoolExecutor(16) as pool:
            list(pool.map(lambda i: run.deliver(f"burst {i}"), range(events)))
    else:
        for i in range(events):
            run.deliver(f"burst {i}")
    finished = run.wait(before + events, 300)
    if run.fake.ws.most_at_once > 1:
        raise SystemExit(f"{run.platform}: {run.fake.ws.most_at_once} connections at once")
    return events / (finished - started), statistics.median(latencies), sorted(latencies)[int(0.95 * (singles - 1))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=300)
    parser.add_argument("--singles", type=int, default=30)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--platforms", default="slack,discord")
    args = parser.parse_args()
    print(f"{args.workers} gunicorn workers, {args.events} events a burst, {args.singles} single events")
    print(f"{'platform':<9} {'mode':<8} {'events/s':>9} {'median ms':>10} {'p95 ms':>8}")
    for platform in args.platforms.split(","):
        results = {}
        for mode in ("webhook", "connect"):
            run = _Run(platform, mode, args.workers)
            try:
                results[mode] = _measure(run, args.events, args.singles)
            finally:
                run.stop()
            rate, median, p95 = results[mode]
            print(f"{platform:<9} {mode:<8} {rate:>9.1f} {median * 1000:>10.1f} {p95 * 1000:>8.1f}")
        added = (results["connect"][1] - results["webhook"][1]) * 1000
        print(f"{platform} connect mode adds {added:.1f} ms per event (median) and runs at "
              f"{results['connect'][0] / results['webhook'][0]:.2f}x the webhook's events/s")


if __name__ == "__main__":
    main()
