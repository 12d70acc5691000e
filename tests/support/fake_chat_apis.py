"""The send APIs of Telegram, Slack and Discord, faked on one loopback server.

Each platform lives under its own prefix (`/telegram`, `/slack/api`, `/discord/api/v10`), so a test
points a channel's `api_base` at `fake.base(platform)`. Requests are checked the way the platform
checks them (the bot token in the path, the Bearer token, a known application id) and answered in
the platform's shape; `script(platform, ...)` makes the next requests fail as the platform would.
Every request is recorded; `delivered(platform)` lists the ones that were accepted.
"""
from __future__ import annotations

import json
import threading
import time
from typing import Any

from .httpserver import LoopbackServer, QuietHandler

TELEGRAM_TOKEN = "424242:AAHfakeTelegramTokenForTests_0123456789"
TELEGRAM_USERNAME = "smartbot_test_bot"
SLACK_TOKEN = "xoxb-fake-slack-token-for-tests"
DISCORD_APP_ID = "1100000000000000001"
TELEGRAM_SECRET = "tg-webhook-secret_0123456789"
SLACK_SIGNING_SECRET = "slack-signing-secret-0123456789abcdef"
DISCORD_SIGNING_SEED = bytes(range(32))     # the test's own Ed25519 key pair, standing in for Discord's
PREFIXES = {"telegram": "/telegram", "slack": "/slack/api", "discord": "/discord/api/v10"}


def channel_config(platform: str, fake: "FakeChatApis", **extra: Any) -> dict[str, Any]:
    """A [channels.<platform>] section whose credentials this fake accepts."""
    from nacl.signing import SigningKey

    base: dict[str, Any] = {
        "telegram": {"bot_token": TELEGRAM_TOKEN, "secret_token": TELEGRAM_SECRET},
        "slack": {"bot_token": SLACK_TOKEN, "signing_secret": SLACK_SIGNING_SECRET},
        "discord": {"application_id": DISCORD_APP_ID,
                    "public_key": SigningKey(DISCORD_SIGNING_SEED).verify_key.encode().hex()},
    }[platform]
    return {**base, "api_base": fake.base(platform), **extra}


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(b"")

    def do_POST(self) -> None:  # noqa: N802
        self._answer(self.read_body())

    def _answer(self, body: bytes) -> None:
        fake: FakeChatApis = self.server.owner  # type: ignore[attr-defined]
        status, data, headers = fake._handle(self.command, self.path, dict(self.headers), body)
        self.send(status, json.dumps(data).encode(), headers=headers)


class FakeChatApis(LoopbackServer):
    def __init__(self) -> None:
        super().__init__(_Handler)
        self.requests: list[dict[str, Any]] = []
        self._scripts: dict[str, list[tuple[int, Any, dict[str, str]]]] = {p: [] for p in PREFIXES}
        self._cv = threading.Condition()
        self._next_id = 1000

    def base(self, platform: str) -> str:
        return self.url + PREFIXES[platform]

    def script(self, platform: str, *answers: tuple[int, Any, dict[str, str]]) -> None:
        """The next requests to `platform` get these (status, JSON body, headers) answers, in order."""
        with self._cv:
            self._scripts[platform].extend(answers)

    def delivered(self, platform: str) -> list[dict[str, Any]]:
        with self._cv:
            return [r for r in self.requests if r["platform"] == platform and r["delivered"]]

    def attempts(self, platform: str) -> list[dict[str, Any]]:
        with self._cv:
            return [r for r in self.requests if r["platform"] == platform and r["method"] == "POST"]

    def wait_for(self, platform: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until `count` messages were delivered to `platform`; returns those delivered so far."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while len([r for r in self.requests if r["platform"] == platform and r["delivered"]]) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cv.wait(remaining)
        return self.delivered(platform)

    # -- request handling -----------------------------------------------------------------
    def _handle(self, method: str, path: str, headers: dict[str, str],
                body: bytes) -> tuple[int, Any, dict[str, str]]:
        platform = next((p for p, prefix in PREFIXES.items() if path.startswith(prefix + "/")), "")
        try:
            data = json.loads(body) if body else None
        except ValueError:
            data = None
        record = {"platform": platform, "method": method, "path": path[len(PREFIXES.get(platform, "")):],
                  "headers": headers, "json": data, "delivered": False, "at": time.time()}
        with self._cv:
            self.requests.append(record)
            scripted = self._scripts[platform].pop(0) if platform and self._scripts[platform] else None
            if scripted is not None:
                return scripted
            status, answer = self._route(platform, record)
            record["delivered"] = status < 300 and method == "POST" and not record["path"].endswith("/getMe")
            self._next_id += 1
            self._cv.notify_all()
            return status, answer, {}

    def _route(self, platform: str, record: dict[str, Any]) -> tuple[int, Any]:
        path, data = record["path"], record["json"]
        if platform == "telegram":
            if not path.startswith(f"/bot{TELEGRAM_TOKEN}/"):
                return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
            if path.endswith("/getMe"):
                return 200, {"ok": True, "result": {"id": int(TELEGRAM_TOKEN.split(":")[0]), "is_bot": True,
                                                    "username": TELEGRAM_USERNAME}}
            if path.endswith("/sendMessage") and isinstance(data, dict) and data.get("chat_id") and data.get("text"):
                return 200, {"ok": True, "result": {"message_id": self._next_id, "chat": {"id": data["chat_id"]}}}
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        if platform == "slack":
            if record["headers"].get("Authorization") != f"Bearer {SLACK_TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}
            if path == "/chat.postMessage" and isinstance(data, dict) and data.get("channel") and data.get("text"):
                return 200, {"ok": True, "channel": data["channel"], "ts": f"{time.time():.6f}"}
            return 200, {"ok": False, "error": "no_text"}
        if platform == "discord":
            parts = path.strip("/").split("/")
            if len(parts) != 3 or parts[0] != "webhooks" or parts[1] != DISCORD_APP_ID:
                return 404, {"code": 10015, "message": "Unknown Webhook"}
            if isinstance(data, dict) and data.get("content"):
                return 200, {"id": str(self._next_id), "content": data["content"]}
            return 400, {"code": 50006, "message": "Cannot send an empty message"}
        return 404, {"error": "no such fake API"}
