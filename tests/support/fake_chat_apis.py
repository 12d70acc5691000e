"""The send APIs of Telegram, Slack and Discord, faked on one loopback server.

Each platform lives under its own prefix (`/telegram`, `/slack/api`, `/discord/api/v10`), so a test
points a channel's `api_base` at `fake.base(platform)`. Requests are checked the way the platform
checks them (the bot token in the path, the Bearer token, a known application id) and answered in
the platform's shape; `script(platform, ...)` makes the next requests fail as the platform would.
Every request is recorded; `delivered(platform)` lists the messages that were created, each
record's text updated by the edits that followed (`edits` lists them): what a person sees.
Drafts (Telegram's sendMessageDraft), edits and typing indicators are recorded, not delivered.
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
DISCORD_BOT_TOKEN = "fake-discord-bot-token-for-tests"
TELEGRAM_SECRET = "tg-webhook-secret_0123456789"
SLACK_SIGNING_SECRET = "slack-signing-secret-0123456789abcdef"
DISCORD_SIGNING_SEED = bytes(range(32))     # the test's own Ed25519 key pair, standing in for Discord's
PREFIXES = {"telegram": "/telegram", "slack": "/slack/api", "discord": "/discord/api/v10"}


PLATFORMS = ("telegram", "slack", "discord", "feishu", "dingtalk", "wecom")


def answered_whole(config: dict[str, Any]) -> dict[str, Any]:
    """Platform channels in `config` answer whole (no preview, no typing) unless the section says
    otherwise: tests of the send path count every call; streaming has tests of its own
    (tests/pipeline/test_platform_streaming.py)."""
    channels = config.get("channels")
    for name in PLATFORMS:
        if isinstance(channels, dict) and isinstance(channels.get(name), dict):
            channels[name] = {"stream": False, "typing": False, **channels[name]}
    return config


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

    def do_PATCH(self) -> None:  # noqa: N802
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

    def calls(self, platform: str, name: str) -> list[dict[str, Any]]:
        """Every request to `platform` whose path ends with `name` (sendChatAction, chat.update, /typing)."""
        with self._cv:
            return [r for r in self.requests if r["platform"] == platform and r["path"].endswith(name)]

    def wait_calls(self, platform: str, name: str, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout
        while len(self.calls(platform, name)) < count and time.monotonic() < deadline:
            time.sleep(0.02)
        return self.calls(platform, name)

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
            self._next_id += 1
            record["message_id"] = str(self._next_id)
            status, answer = self._route(platform, record)
            record["delivered"] = status < 300 and record.get("creates", False)
            self._cv.notify_all()
            return status, answer, {}

    def _route(self, platform: str, record: dict[str, Any]) -> tuple[int, Any]:
        """The platform's answer to one call (a subclass adds calls of its own here)."""
        route = {"telegram": self._telegram, "slack": self._slack, "discord": self._discord}.get(platform)
        return route(record) if route else (404, {"error": "no such fake API"})

    def _message(self, platform: str, message_id: str) -> dict[str, Any] | None:
        """The delivered message with this id (Telegram message_id, Slack ts, Discord id)."""
        return next((r for r in self.requests if r["platform"] == platform and r["delivered"]
                     and r["message_id"] == message_id), None)

    def _edit(self, message: dict[str, Any], field: str, text: str) -> None:
        message.setdefault("created", message["json"])      # the request as it came, before any edit
        message.setdefault("edits", []).append(text)
        message["json"] = {**message["json"], field: text}

    def _telegram(self, record: dict[str, Any]) -> tuple[int, Any]:
        path, data = record["path"], record["json"] if isinstance(record["json"], dict) else {}
        if not path.startswith(f"/bot{TELEGRAM_TOKEN}/"):
            return 401, {"ok": False, "error_code": 401, "description": "Unauthorized"}
        method = path.rsplit("/", 1)[1]
        empty = 400, {"ok": False, "error_code": 400, "description": "Bad Request: message text is empty"}
        if method == "getMe":
            return 200, {"ok": True, "result": {"id": int(TELEGRAM_TOKEN.split(":")[0]), "is_bot": True,
                                                "username": TELEGRAM_USERNAME}}
        if method == "sendChatAction" and data.get("chat_id") and data.get("action") == "typing":
            return 200, {"ok": True, "result": True}
        if method == "sendMessageDraft":
            if str(data.get("chat_id") or "-").startswith("-") or not data.get("draft_id"):
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: drafts are for private chats"}
            return (200, {"ok": True, "result": True}) if data.get("text") else empty
        if method == "editMessageText":
            message = self._message("telegram", str(data.get("message_id")))
            if message is None or str(message["json"].get("chat_id")) != str(data.get("chat_id")):
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}
            if not data.get("text"):
                return empty
            if message["json"].get("text") == data["text"]:
                return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message is not modified"}
            self._edit(message, "text", data["text"])
            return 200, {"ok": True, "result": {"message_id": int(message["message_id"]), "text": data["text"]}}
        if method == "sendMessage" and data.get("chat_id") and data.get("text"):
            record["creates"] = True
            return 200, {"ok": True, "result": {"message_id": int(record["message_id"]), "chat": {"id": data["chat_id"]}}}
        return empty

    def _slack(self, record: dict[str, Any]) -> tuple[int, Any]:
        path, data = record["path"], record["json"] if isinstance(record["json"], dict) else {}
        if record["headers"].get("Authorization") != f"Bearer {SLACK_TOKEN}":
            return 200, {"ok": False, "error": "invalid_auth"}
        if path == "/assistant.threads.setStatus":
            return 200, {"ok": True} if data.get("channel_id") and data.get("thread_ts") else \
                {"ok": False, "error": "invalid_arguments"}
        if path == "/chat.update" and data.get("text"):
            message = self._message("slack", str(data.get("ts")))
            if message is None or message["json"].get("channel") != data.get("channel"):
                return 200, {"ok": False, "error": "message_not_found"}
            self._edit(message, "text", data["text"])
            return 200, {"ok": True, "channel": data["channel"], "ts": data["ts"]}
        if path == "/chat.postMessage" and data.get("channel") and data.get("text"):
            record["creates"] = True
            record["message_id"] = f"{time.time():.6f}.{record['message_id']}"
            return 200, {"ok": True, "channel": data["channel"], "ts": record["message_id"]}
        return 200, {"ok": False, "error": "no_text"}

    def _discord(self, record: dict[str, Any]) -> tuple[int, Any]:
        parts = record["path"].strip("/").split("/")
        data = record["json"] if isinstance(record["json"], dict) else {}
        if parts[0] == "channels" and len(parts) >= 3:
            if record["headers"].get("Authorization") != f"Bot {DISCORD_BOT_TOKEN}":
                return 401, {"code": 0, "message": "401: Unauthorized"}
            return self._discord_message(record, data, parts[3] if len(parts) == 4 else None, parts[2] == "typing")
        if len(parts) not in (3, 5) or parts[0] != "webhooks" or parts[1] != DISCORD_APP_ID:
            return 404, {"code": 10015, "message": "Unknown Webhook"}
        return self._discord_message(record, data, parts[4] if len(parts) == 5 else None, False)

    def _discord_message(self, record: dict[str, Any], data: dict[str, Any], edited: str | None,
                         typing: bool) -> tuple[int, Any]:
        if typing and record["method"] == "POST":
            return 200, {}
        if not data.get("content"):
            return 400, {"code": 50006, "message": "Cannot send an empty message"}
        if edited is not None and record["method"] == "PATCH":
            message = self._message("discord", edited)
            if message is None:
                return 404, {"code": 10008, "message": "Unknown Message"}
            self._edit(message, "content", data["content"])
            return 200, {"id": edited, "content": data["content"]}
        if edited is None and record["method"] == "POST":
            record["creates"] = True
            return 200, {"id": record["message_id"], "content": data["content"]}
        return 405, {"code": 0, "message": "405: Method Not Allowed"}
