"""Connect mode against webhook mode for DingTalk (Stream), Feishu (long connection) and WeCom (the
AI bot's connection against the app's callbacks), in the same run: events a second and the latency
each mode adds per event, from the moment the platform has the event to the reply at its send API.

    python bench/connect_platforms.py [--events 200] [--singles 20] [--workers 2] [--only dingtalk,...]

The app runs under gunicorn with the shipped settings; each platform is the tests' fake (its open
API, and its websocket for connect mode), the model a zero-latency fake, all on loopback. Webhook
mode: the bench POSTs each event as the platform signs (and, for WeCom, encrypts) it, from 16
threads. Connect mode: the bench hands each event to the fake, which sends it on SmartBot's
connection. Figures as in bench/connect.py (Telegram): events/s of a burst, and the median and
95th percentile of single events; "added" is connect's median less webhook's.
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

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.support.apps import GunicornApp  # noqa: E402
from tests.support.fake_dingtalk_stream import FakeDingTalkStream  # noqa: E402
from tests.support.fake_feishu_ws import FakeFeishuWs  # noqa: E402
from tests.support.fake_model import FakeModel  # noqa: E402
from tests.support.fake_open_platforms import FakeWeCom  # noqa: E402
from tests.support.fake_wecom_aibot import FakeWeComAiBot  # noqa: E402
from tests.support.platform_requests import (dingtalk_headers, dingtalk_message, feishu_event,  # noqa: E402
                                             feishu_request, wecom_message, wecom_post)

BENCH_SECRET = "k" * 48
KEY, SECRET = "bench_app", "bench-platform-secret-0123456789"
WECOM_APP = {"corp_id": "ww_test_corp", "agent_id": 1000002, "secret": SECRET, "token": "bench-token",
             "encoding_aes_key": "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"}


class DingTalk:
    def __init__(self, mode: str) -> None:
        self.mode, self.fake = mode, FakeDingTalkStream(KEY, SECRET).start()
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

    def replied_at(self) -> list[float]:
        return [r["at"] for r in self.fake.delivered]


class Feishu:
    def __init__(self, mode: str) -> None:
        self.mode, self.fake = mode, FakeFeishuWs("cli_test", SECRET).start()

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

    def replied_at(self) -> list[float]:
        return [r["at"] for r in self.fake.delivered]


class WeCom:
    def __init__(self, mode: str) -> None:
        self.mode = mode
        self.fake = FakeWeComAiBot(KEY, SECRET).start() if mode == "connect" else FakeWeCom(WECOM_APP["corp_id"],
                                                                                             SECRET)
        if mode == "webhook":
            from wechatpy.enterprise.crypto import WeChatCrypto

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
        return list(self.fake.delivered_at) if self.mode == "connect" else [r["at"] for r in self.fake.delivered]


PLATFORMS = {"dingtalk": DingTalk, "feishu": Feishu, "wecom": WeCom}


def _post(app: GunicornApp, channel: str, body: bytes, headers: dict[str, str],
          query: dict[str, str] | None = None) -> None:
    res = requests.post(f"{app.url}/webhooks/{channel}", data=body, headers=headers, params=query, timeout=10)
    if res.status_code != 200:
        raise SystemExit(f"{channel} webhook answered {res.status_code}: {res.text[:200]}")


def _wait_replies(platform: Any, count: int, timeout: float) -> list[float]:
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
        platform.deliver(app, 0, "warm up")
        if len(_wait_replies(platform, 1, 60)) < 1:
            raise SystemExit(f"{name} {mode}: no reply to the first event:\n{app.log()}")
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
    parser.add_argument("--only", default=",".join(PLATFORMS))
    args = parser.parse_args()
    print(f"{args.workers} gunicorn workers, {args.events} events a burst, {args.singles} single events")
    print(f"{'platform':<9} {'mode':<8} {'events/s':>9} {'median ms':>10} {'p95 ms':>8}")
    for name in args.only.split(","):
        results = {mode: _measure(name, mode, args.workers, args.events, args.singles)
                   for mode in ("webhook", "connect")}
        for mode, (rate, median, p95) in results.items():
            print(f"{name:<9} {mode:<8} {rate:>9.1f} {median * 1000:>10.1f} {p95 * 1000:>8.1f}", flush=True)
        added = (results["connect"][1] - results["webhook"][1]) * 1000
        print(f"{name} connect mode adds {added:.1f} ms per event (median) and runs at "
              f"{results['connect'][0] / results['webhook'][0]:.2f}x the webhook's events/s", flush=True)


if __name__ == "__main__":
    main()
