"""What each platform channel costs on the webhook path: verify + handshake + parse of one signed
request, in process (no HTTP, no database), and the markdown conversion of one reply.

    python bench/channels.py [--requests 5000]

Requests are signed beforehand the way the platforms sign them (slack_sdk, PyNaCl), from the sample
payloads in tests/samples, so only SmartBot's side is timed. Compare with the whole ingest path in
bench/ingest.py (about 1 ms per request at best): this is the part a channel adds to it.
"""
from __future__ import annotations

import argparse
import json
import secrets
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from nacl.signing import SigningKey  # noqa: E402
from slack_sdk.signature import SignatureVerifier  # noqa: E402

from smartbot.settings import loading as config_module
from smartbot.channels import registry
from smartbot.channels.support import markup
from smartbot.channels.base import Headers, WebRequest  # noqa: E402
from tests.support.platform_clients import sample  # noqa: E402

TELEGRAM_TOKEN = "424242:AAHbenchTelegramToken_0123456789abcdef"
TELEGRAM_SECRET = "bench-telegram-secret-0123456789"
SLACK_SECRET = secrets.token_hex(16)
DISCORD_KEY = SigningKey.generate()
REPLY = ("**Disk usage** on `web-1`:\n\n- `/` 81% & rising\n- `/var` 40%\n\n```\nFilesystem  Use%\n/dev/sda1"
         "   81%\n```\nSee [the runbook](https://example.com/runbook?a=1&b=2) for *what to do*. ") * 8


def _channels() -> dict:
    raw = {"telegram": {"bot_token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET,
                        "bot_username": "smartbot_test_bot"},
           "slack": {"bot_token": "xoxb-bench", "signing_secret": SLACK_SECRET},
           "discord": {"application_id": "1100000000000000001",
                       "public_key": DISCORD_KEY.verify_key.encode().hex()}}
    settings = config_module.load({"channels": raw}, env={"SMARTBOT_SECRET_KEY": "k" * 40})
    return {name: registry.spec(name).channel_class(cfg) for name, cfg in settings.channels.items()}


def _requests(platform: str, count: int) -> list[WebRequest]:
    reqs = []
    now = str(int(time.time()))
    for i in range(count):
        if platform == "telegram":
            payload = sample("telegram_group_mention.json")
            payload["message"].update(message_id=i, date=int(now))
            body = json.dumps(payload).encode()
            headers = {"X-Telegram-Bot-Api-Secret-Token": TELEGRAM_SECRET}
        elif platform == "slack":
            payload = sample("slack_app_mention.json")
            payload["event"]["ts"] = f"1795550001.{i:06d}"
            body = json.dumps(payload).encode()
            headers = {"X-Slack-Request-Timestamp": now,
                       "X-Slack-Signature": SignatureVerifier(SLACK_SECRET).generate_signature(timestamp=now,
                                                                                               body=body)}
        else:
            payload = sample("discord_slash_ask.json")
            payload["id"] = str(1200000000000000000 + i)
            body = json.dumps(payload).encode()
            headers = {"X-Signature-Timestamp": now,
                       "X-Signature-Ed25519": DISCORD_KEY.sign(now.encode() + body).signature.hex()}
        reqs.append(WebRequest("POST", f"/webhooks/{platform}", Headers(headers), body))
    return reqs


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--requests", type=int, default=5000)
    args = parser.parse_args()
    channels = _channels()
    print(f"{'channel':<10} {'verify+parse us/req':>20} {'req/s (one core)':>18}")
    for name, channel in channels.items():
        reqs = _requests(name, args.requests)
        started = time.perf_counter()
        for req in reqs:
            channel.verify(req)
            if channel.handshake(req) is None:
                assert channel.parse(req), name
        per = (time.perf_counter() - started) / len(reqs)
        print(f"{name:<10} {per * 1e6:>20.1f} {1 / per:>18.0f}")
        channel.close()
    for label, convert in (("telegram html", markup.to_telegram_html), ("slack mrkdwn", markup.to_slack_mrkdwn)):
        rounds = 500
        started = time.perf_counter()
        for _ in range(rounds):
            convert(REPLY)
        per = (time.perf_counter() - started) / rounds
        print(f"{label:<14} {len(REPLY)} chars of markdown: {per * 1e6:.0f} us per reply")


if __name__ == "__main__":
    main()
