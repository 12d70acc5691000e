"""The calls that answer a button press, on top of the fake platform APIs.

`FakeButtonApis` adds what `FakeChatApis` does not take: Telegram's answerCallbackQuery and
editMessageText, Slack's chat.update and chat.postEphemeral, Discord's channel messages (bot token)
and the PATCH of an interaction's original message. `FakeFeishuButtons` adds Feishu's interactive
cards, the PATCH that updates one and the ephemeral card; `FakeWeComButtons` WeCom's template cards
and update_template_card. Every call is recorded, with `accepted`
set on those the platform would take; `calls(platform, path)` lists the accepted ones.
"""
from __future__ import annotations

from typing import Any

from .fake_chat_apis import DISCORD_APP_ID, SLACK_TOKEN, TELEGRAM_TOKEN, FakeChatApis, _Handler
from .fake_open_platforms import FakeFeishu, FakeWeCom
from .fake_open_platforms import _Handler as _OpenHandler

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
        handled = self._buttons(platform, record)
        status, answer = handled or super()._route(platform, record)
        record["accepted"] = status < 300
        if handled and record["method"] == "POST" and status < 300:
            record["creates"] = True        # counted as delivered, as the base fake counts its own posts
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


class _PatchingOpenHandler(_OpenHandler):
    def do_PATCH(self) -> None:  # noqa: N802
        self._answer("PATCH")


class FakeFeishuButtons(FakeFeishu):
    EPHEMERAL_PATH = "/open-apis/ephemeral/v1/send"

    def __init__(self, app_id: str, app_secret: str) -> None:
        super().__init__(app_id, app_secret)
        self.httpd.RequestHandlerClass = _PatchingOpenHandler

    def calls(self, path_prefix: str) -> list[dict[str, Any]]:
        return [r for r in super().calls(path_prefix) if r.get("accepted")]

    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:
        status, body = self._buttons(req) or super().answer(req)
        req["accepted"] = status < 300 and body.get("code") == 0
        return status, body

    def _buttons(self, req: dict[str, Any]) -> tuple[int, Any] | None:
        body = req["json"] or {}
        card_send = req["method"] == "POST" and body.get("msg_type") == "interactive" and \
            req["path"].startswith("/open-apis/im/v1/messages")
        if not (card_send or req["method"] == "PATCH" or req["path"] == self.EPHEMERAL_PATH):
            return None
        auth = req["headers"].get("authorization", "")
        if not auth.startswith("Bearer ") or not self.token_ok(auth[len("Bearer "):]):
            return 400, {"code": 99991663, "msg": "Invalid access token for authorization."}
        if req["path"] == self.EPHEMERAL_PATH:
            ok = body.get("chat_id") and body.get("open_id") and isinstance(body.get("card"), dict)
            return (200, {"code": 0, "msg": "ok", "data": {"message_id": "om_ephemeral"}}) if ok else \
                (400, {"code": 230001, "msg": "invalid ephemeral card"})
        if not isinstance(body.get("content"), str):
            return 400, {"code": 230001, "msg": "invalid message content"}
        if card_send:
            self.deliver(req)
        return 200, {"code": 0, "msg": "success", "data": {"message_id": f"om_sent_{len(self.delivered)}"}}


class FakeWeComButtons(FakeWeCom):
    UPDATE_PATH = "/cgi-bin/message/update_template_card"

    def calls(self, path_prefix: str) -> list[dict[str, Any]]:
        return [r for r in super().calls(path_prefix) if r.get("accepted")]

    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:
        body = req["json"] or {}
        if req["path"] == self.UPDATE_PATH:
            if not self.token_ok(req["query"].get("access_token")):
                status, answer = 200, {"errcode": 42001, "errmsg": "access_token expired"}
            elif body.get("response_code") and body.get("userids") and body.get("button", {}).get("replace_name"):
                status, answer = 200, {"errcode": 0, "errmsg": "ok"}
            else:
                status, answer = 200, {"errcode": 40058, "errmsg": "invalid parameter"}
        elif body.get("msgtype") == "template_card" and not body.get("template_card", {}).get("button_list"):
            status, answer = 200, {"errcode": 40058, "errmsg": "template_card without buttons"}
        else:
            status, answer = super().answer(req)
        req["accepted"] = answer.get("errcode") == 0
        return status, answer
