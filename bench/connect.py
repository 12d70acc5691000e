"""Connect mode against webhook mode for every channel that has both, in the same run: events a
second and the latency each mode adds per event, from the moment the platform has the event to the
reply at its send API.

    python bench/connect.py [--events 200] [--singles 20] [--workers 2] [--only telegram,slack,...]

The app runs under gunicorn with the shipped settings; each platform is the tests' fake (its API,
and its long poll or websocket for connect mode), the model a zero-latency fake, all on loopback.
Webhook mode: the bench POSTs each event as the platform signs (and, for WeCom, encrypts) it, from
16 threads. Connect mode: the bench hands each event to the fake, which sends it down SmartBot's
connection (Telegram: queues it for the next getUpdates). Two figures per mode:
- events/s: a burst of --events events, from the first one out to the last reply in;
- latency: --singles events one at a time, each from being available to its reply (the median and
  the 95th percentile); "added" is connect's median less webhook's.
Discord's webhook mode is its interactions endpoint (a slash command, answered by a follow-up);
its connect mode a direct message on the Gateway.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import requests
from nacl.signing import SigningKey

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support import fake_discord_gateway as discord_fake  # noqa: E402
from tests.support import fake_slack_socket as slack_fake  # noqa: E402
from tests.support import fake_telegram  # noqa: E402
from tests.support.apps import GunicornApp  # noqa: E402
from tests.support.fake_dingtalk_stream import FakeDingTalkStream  # noqa: E402
from tests.support.fake_feishu_ws import FakeFeishuWs  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.fake_open_platforms import FakeWeCom  # noqa: E402
from tests.support.fake_telegram import FakeTelegram, text_update  # noqa: E402
from tests.support.fake_wecom_aibot import FakeWeComAiBot  # noqa: E402
from tests.support.platform_clients import DiscordSender, SlackSender, TelegramSender  # noqa: E402
from tests.support.platform_requests import (dingtalk_headers, dingtalk_message, feishu_event,  # noqa: E402
                                             feishu_request, wecom_message, wecom_post)

BENCH_SECRET = "k" * 48
KEY, SECRET = "bench_app", "bench-platform-secret-0123456789"
TELEGRAM_SECRET = "bench-telegram-secret-0123456789"
SLACK_SECRET = "0123456789abcdef0123456789abcdef"
DISCORD_KEY = SigningKey(bytes(range(32)))
WECOM_APP = {"corp_id": "ww_test_corp", "agent_id": 1000002, "secret": SECRET, "token": "bench-token",
             "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}


class Platform:
    """One platform in one mode: its fake, its settings, how it hands the app an event, and when
    each reply reached its send API."""

    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.fake: Any = None

    def section(self) -> dict[str, Any]:
        raise NotImplementedError

    def deliver(self, app: GunicornApp, i: int, text: str) -> None:
        raise NotImplementedError

    def replied_at(self) -> list[float]:
        return [r["at"] for r in self.fake.delivered]

    def ready(self) -> None:
        """Before the first event: connect mode's connection is up."""

    def check(self) -> None:
        """After the burst: the one-holder rule held."""


class Telegram(Platform):
    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.fake = FakeTelegram().start()

    def section(self) -> dict[str, Any]:
        section = {"bot_token": fake_telegram.TOKEN, "api_base": self.fake.base, "mode": self.mode,
                   "bot_username": fake_telegram.USERNAME}
        return {**section, "secret_token": TELEGRAM_SECRET} if self.mode == "webhook" else section

    def deliver(self, app: GunicornApp, i: int, text: str) -> None:
        update = text_update(10_000 + i % 200, i + 1, text)
        if self.mode == "connect":
            self.fake.push(update)
            return
        update["update_id"] = 900_000 + i
        _check(app, "telegram", TelegramSender(app.url, TELEGRAM_SECRET).post(update))

    def replied_at(self) -> list[float]:
        return [m["at"] for m in self.fake.sent]

    def check(self) -> None:
        if self.fake.overlaps:
            raise SystemExit(f"telegram: {len(self.fake.overlaps)} overlapping getUpdates calls")


class _Socketed(Platform):
    """Slack and Discord: the fake records reply times, and counts connections at once."""

    def replied_at(self) -> list[float]:
        return list(self.fake.reply_times)

    def ready(self) -> None:
        if self.mode == "connect":
            self.fake.wait_connected(timeout=60)

    def check(self) -> None:
        if self.fake.ws.most_at_once > 1:
            raise SystemExit(f"{type(self).__name__}: {self.fake.ws.most_at_once} connections at once")


class Slack(_Socketed):
    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.fake = slack_fake.FakeSlackSocket().start()

    def section(self) -> dict[str, Any]:
        return {"bot_token": slack_fake.BOT_TOKEN, "signing_secret": SLACK_SECRET, "app_token": slack_fake.APP_TOKEN,
                "api_base": self.fake.api_base, "mode": self.mode}

    def deliver(self, app: GunicornApp, i: int, text: str) -> None:
        event = {"type": "message", "channel": "D0BENCH", "channel_type": "im", "user": f"U{i % 50}",
                 "text": text, "ts": f"1795560000.{i:06d}"}
        if self.mode == "connect":
            self.fake.push_event(event)
            return
        _check(app, "slack", SlackSender(app.url, SLACK_SECRET).post(
            {"type": "event_callback", "event_id": f"Ev{i}", "event": event}))


class Discord(_Socketed):
    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.fake = discord_fake.FakeDiscordGateway().start()

    def section(self) -> dict[str, Any]:
        return {"bot_token": discord_fake.BOT_TOKEN, "application_id": discord_fake.BOT_ID,
                "public_key": DISCORD_KEY.verify_key.encode().hex(), "api_base": self.fake.api_base, "mode": self.mode}

    def deliver(self, app: GunicornApp, i: int, text: str) -> None:
        if self.mode == "connect":
            self.fake.message(text, channel_id=str(1500000000000000000 + i % 50))
            return
        _check(app, "discord", DiscordSender(app.url, DISCORD_KEY).post({
            "type": 2, "id": str(1200000000000000000 + i), "application_id": discord_fake.BOT_ID,
            "token": f"bench-token-{i}", "channel_id": str(1500000000000000000 + i % 50),
            "user": {"id": str(1400000000000000000 + i % 50), "username": "bench"},
            "data": {"name": "ask", "type": 1, "options": [{"name": "text", "type": 3, "value": text}]}}))


class DingTalk(Platform):
    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.fake = FakeDingTalkStream(KEY, SECRET).start()
        self._stamp = int(time.time() * 1000)

    def section(self) -> dict[str, Any]:
        return {"app_key": KEY, "app_secret": SECRET, "api_base": self.fake.url,
                "session_webhook_hosts": [self.fake.url], "mode": self.mode}

    def deliver(self, app: GunicornApp, i: int, text: str) -> None:
        message = dingtalk_message(conversationType="1", msgId=f"bench-{i}", text={"content": text},
                                   sessionWebhook=self.fake.session_webhook)
        if self.mode == "connect":
            self.fake.callback(message)
            return
        self._stamp += 1            # each timestamp/sign pair is accepted once
        _post(app, "dingtalk", json.dumps(message).encode(), dingtalk_headers(SECRET, self._stamp))


class Feishu(Platform):
    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        self.fake = FakeFeishuWs("cli_test", SECRET).start()

    def section(self) -> dict[str, Any]:
        section = {"app_id": "cli_test", "app_secret": SECRET, "api_base": self.fake.url, "mode": self.mode}
        return section if self.mode == "connect" else {**section, "verification_token": "verification-token"}

    def deliver(self, app: GunicornApp, i: int, text: str) -> None:
        event = feishu_event("feishu_p2p_text.json", message_id=f"om_bench_{i}",
                             content=json.dumps({"text": text}, ensure_ascii=False))
        if self.mode == "connect":
            self.fake.event(event)
            return
        _post(app, "feishu", *feishu_request(event))


class WeCom(Platform):
    """Connect mode is the AI bot's connection; webhook mode the app's encrypted callbacks."""

    def __init__(self, mode: str) -> None:
        super().__init__(mode)
        if mode == "connect":
            self.fake = FakeWeComAiBot(KEY, SECRET).start()
            return
        from wechatpy.enterprise.crypto import WeChatCrypto

        self.fake = FakeWeCom(WECOM_APP["corp_id"], SECRET)
        self.fake.start()
        self._crypto = WeChatCrypto(WECOM_APP["token"], WECOM_APP["encoding_aes_key"], WECOM_APP["corp_id"])

    def section(self) -> dict[str, Any]:
        if self.mode == "connect":
            return {"mode": "connect", "bot_id": KEY, "bot_secret": SECRET, "aibot_url": self.fake.ws_url}
        return {**WECOM_APP, "api_base": self.fake.url}

    def deliver(self, app: GunicornApp, i: int, text: str) -> None:
        if self.mode == "connect":
            self.fake.message({"msgid": f"bench-{i}", "aibotid": KEY, "chattype": "single",
                               "from": {"userid": "zhangsan"}, "msgtype": "text", "text": {"content": text}})
            return
        query, body = wecom_post(self._crypto, wecom_message(MsgId=str(7_450_000_000 + i), Content=text))
        _post(app, "wecom", body, {"Content-Type": "text/xml"}, query)

    def replied_at(self) -> list[float]:
        return list(self.fake.delivered_at) if self.mode == "connect" else super().replied_at()


PLATFORMS: dict[str, type[Platform]] = {"telegram": Telegram, "slack": Slack, "discord": Discord,
                                        "dingtalk": DingTalk, "feishu": Feishu, "wecom": WeCom}


def _post(app: GunicornApp, channel: str, body: bytes, headers: dict[str, str],
          query: dict[str, str] | None = None) -> None:
    _check(app, channel, requests.post(f"{app.url}/webhooks/{channel}", data=body, headers=headers, params=query,
                                       timeout=10))


def _check(app: GunicornApp, channel: str, res: requests.Response) -> None:
    if res.status_code != 200:
        raise SystemExit(f"{channel} webhook answered {res.status_code}: {res.text[:200]}")


def _wait_replies(platform: Platform, count: int, timeout: float) -> list[float]:
    deadline = time.monotonic() + timeout
    while len(platform.replied_at()) < count and time.monotonic() < deadline:
        time.sleep(0.005)
    return platform.replied_at()


def _measure(name: str, mode: str, workers: int, events: int, singles: int) -> tuple[float, float, float]:
    platform = PLATFORMS[name](mode)
    model = FakeModel().start()
    workdir = Path(tempfile.mkdtemp(prefix=f"smartbot-bench-{name}-{mode}-"))
    config = {"database_url": f"sqlite:///{workdir / 'smartbot.db'}", "channels": {name: platform.section()},
              "providers": [{"name": "main", "base_url": model.base_url, "model": "bench"}],
              "quotas": {"messages_per_minute_per_role": {}}, "log_level": "WARNING"}
    app = GunicornApp(config, workdir, workers=workers, env={"SMARTBOT_SECRET_KEY": BENCH_SECRET}).start(timeout=60)
    try:
        platform.ready()
        platform.deliver(app, 0, "warm up")
        if len(_wait_replies(platform, 1, 60)) < 1:
            raise SystemExit(f"{name} {mode}: no reply to the first event:\n{app.log()[-3000:]}")
        latencies = []
        for i in range(1, singles + 1):
            started = time.time()
            platform.deliver(app, i, f"single {i}")
            latencies.append(_wait_replies(platform, i + 1, 30)[i] - started)
            time.sleep(0.05)
        before, started = singles + 1, time.time()
        ids = range(before, before + events)
        if mode == "webhook":
            with ThreadPoolExecutor(16) as pool:
                list(pool.map(lambda i: platform.deliver(app, i, f"burst {i}"), ids))
        else:
            for i in ids:
                platform.deliver(app, i, f"burst {i}")
        replied = _wait_replies(platform, before + events, 300)
        if len(replied) < before + events:
            raise SystemExit(f"{name} {mode}: {len(replied) - before} of {events} replies arrived")
        platform.check()
        return (events / (max(replied) - started), statistics.median(latencies),
                sorted(latencies)[int(0.95 * (len(latencies) - 1))])
    finally:
        app.stop()
        platform.fake.stop()
        model.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200)
    parser.add_argument("--singles", type=int, default=20)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--only", default=",".join(PLATFORMS), help="e.g. telegram,slack")
    args = parser.parse_args()
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in PLATFORMS]
    if unknown:
        parser.error(f"no connect mode bench for {', '.join(unknown)}; choose from {', '.join(PLATFORMS)}")
    print(f"{args.workers} gunicorn workers, {args.events} events a burst, {args.singles} single events")
    print(f"{'platform':<9} {'mode':<8} {'events/s':>9} {'median ms':>10} {'p95 ms':>8} {'added ms':>9}", flush=True)
    for name in names:
        results = {mode: _measure(name, mode, args.workers, args.events, args.singles)
                   for mode in ("webhook", "connect")}
        for mode, (rate, median, p95) in results.items():
            added = f"{(median - results['webhook'][1]) * 1000:>9.1f}" if mode == "connect" else f"{'':>9}"
            print(f"{name:<9} {mode:<8} {rate:>9.1f} {median * 1000:>10.1f} {p95 * 1000:>8.1f} {added}", flush=True)


if __name__ == "__main__":
    main()
