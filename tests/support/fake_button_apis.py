"""The calls that answer a button press, on top of the fake send APIs of Telegram, Slack and Discord.

Adds what `FakeChatApis` does not take: Telegram's answerCallbackQuery and editMessageText, Slack's
chat.update and chat.postEphemeral, Discord's channel messages (bot token) and the PATCH of an
interaction's original message. Every call is recorded like the others; `calls(platform, path)`
lists the accepted ones whose path ends with `path`.
"""
from __future__ import annotations

from typing import Any

from .fake_chat_apis import DISCORD_APP_ID, SLACK_TOKEN, TELEGRAM_TOKEN, FakeChatApis, _Handler

DISCORD_BOT_TOKEN = "discord-bot-token-for-tests"


class _ButtonHandler(_Handler):
    def do_PATCH(self) -> None:  # noqa: N802 - http.server's naming
        self._answer(self.read_body())


class FakeButtonApis(FakeChatApis):
    def __init__(self) -> None:
        super().__init__()
        self.httpd.RequestHandlerClass = _ButtonHandler

    def calls(self, platform: str, path: str) -> list[dict[str, Any]]:
        with self._cv:
            return [r for r in self.requests if r["platform"] == platform and r["path"].endswith(path)
                    and r.get("accepted")]

    def _route(self, platform: str, record: dict[str, Any]) -> tuple[int, Any]:
        status, answer = self._buttons(platform, record) or super()._route(platform, record)
        record["accepted"] = status < 300
        if record["method"] == "PATCH" and status < 300:
            record["delivered"] = True
        return status, answer

    def _buttons(self, platform: str, record: dict[str, Any]) -> tuple[int, Any] | None:
        path, data = record["path"], record["json"] if isinstance(record["json"], dict) else {}
        if platform == "telegram" and path == f"/bot{TELEGRAM_TOKEN}/answerCallbackQuery":
            return (200, {"ok": True, "result": True}) if data.get("callback_query_id") else \
                (400, {"ok": False, "error_code": 400, "description": "Bad Request: query is too old"})
        if platform == "telegram" and path == f"/bot{TELEGRAM_TOKEN}/editMessageText":
            if data.get("chat_id") and data.get("message_id") and data.get("text"):
                return 200, {"ok": True, "result": {"message_id": data["message_id"]}}
            return 400, {"ok": False, "error_code": 400, "description": "Bad Request: message to edit not found"}
        if platform == "slack" and path in ("/chat.update", "/chat.postEphemeral"):
            if record["headers"].get("Authorization") != f"Bearer {SLACK_TOKEN}":
                return 200, {"ok": False, "error": "invalid_auth"}
            needed = ("channel", "ts", "text") if path == "/chat.update" else ("channel", "user", "text")
            if all(data.get(k) for k in needed):
                return 200, {"ok": True, "channel": data["channel"], "ts": data.get("ts") or "1.000001"}
            return 200, {"ok": False, "error": "invalid_arguments"}
        if platform == "discord" and path.startswith("/channels/") and path.endswith("/messages"):
            if record["headers"].get("Authorization") != f"Bot {DISCORD_BOT_TOKEN}":
                return 401, {"code": 0, "message": "401: Unauthorized"}
            return 200, {"id": str(self._next_id), "channel_id": path.split("/")[2], "content": data.get("content")}
        if platform == "discord" and record["method"] == "PATCH":
            parts = path.strip("/").split("/")
            if len(parts) == 5 and parts[:2] == ["webhooks", DISCORD_APP_ID] and parts[3:] == ["messages", "@original"]:
                return 200, {"id": "1", "content": data.get("content")}
            return 404, {"code": 10008, "message": "Unknown Message"}
        return None
