"""DingTalk's and WeCom's card and upload APIs, on top of the fake open platforms and the fake AI bot.

`FakeDingTalkCards` adds the robot's interactive cards (send, update, the callback route
registration) and the older API's `/media/upload` (`FakeDingTalkStreamCards` the same in Stream
mode, pushing card callbacks on their topic); `FakeWeComFiles` adds WeCom's
`/cgi-bin/media/upload` and image/file messages naming an uploaded media id;
`FakeWeComAiBotCards` adds the AI bot's template cards, card events pushed as WeCom pushes them,
and `aibot_respond_update_msg`. Every call is recorded, with `accepted` set on those the platform
would take; uploads keep their bytes (`uploads`).
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from email.parser import BytesParser
from email.policy import default
from typing import Any

from .fake_button_apis import FakeWeComButtons
from .fake_dingtalk_stream import FakeDingTalkStream
from .fake_open_platforms import FakeDingTalk
from .fake_wecom_aibot import FakeWeComAiBot

DINGTALK_CARD_SEND = "/v1.0/im/v1.0/robot/interactiveCards/send"
DINGTALK_CARD_UPDATE = "/v1.0/im/robots/interactiveCards"
DINGTALK_REGISTER = "/v1.0/card/callbacks/register"
MEDIA_UPLOAD = "/media/upload"
WECOM_UPLOAD = "/cgi-bin/media/upload"
CARD_TOPIC = "/v1.0/card/instances/callback"


def multipart_files(content_type: str, raw: bytes) -> dict[str, tuple[str, bytes]]:
    """The files of a multipart body: field name -> (file name, bytes)."""
    message = BytesParser(policy=default).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    return {part.get_param("name", header="content-disposition"): (part.get_filename() or "",
                                                                      part.get_payload(decode=True))
            for part in message.iter_parts()} if message.is_multipart() else {}


class _KeepsRaw:
    """Lets `answer` see the raw body of the request being answered (uploads are multipart)."""

    _raw = threading.local()

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes):  # type: ignore[no-untyped-def]
        self._raw.body = raw
        return super().dispatch(method, raw_path, headers, raw)  # type: ignore[misc]

    def _upload(self, req: dict[str, Any], token_ok: bool, answer_error: dict[str, Any]) -> tuple[int, Any]:
        if not token_ok:
            return 200, answer_error
        found = multipart_files(req["headers"].get("content-type", ""), self._raw.body)
        if "media" not in found or req["query"].get("type") not in ("image", "file"):
            return 200, {"errcode": 40004, "errmsg": "invalid media"}
        media_id = f"media-{len(self.uploads) + 1}"
        self.uploads.append({"type": req["query"]["type"], "name": found["media"][0], "bytes": found["media"][1],
                             "media_id": media_id})
        return 200, {"errcode": 0, "errmsg": "ok", "type": req["query"]["type"], "media_id": media_id,
                     "created_at": str(int(time.time()))}


class FakeDingTalkCards(_KeepsRaw, FakeDingTalk):
    def __init__(self, app_key: str, app_secret: str, **kw: Any) -> None:
        super().__init__(app_key, app_secret, **kw)
        self.uploads: list[dict[str, Any]] = []
        self.routes: dict[str, str] = {}        # callbackRouteKey -> callbackUrl

    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:
        status, body = self._cards(req) or super().answer(req)
        req["accepted"] = status < 300 and not body.get("errcode")
        return status, body

    def _cards(self, req: dict[str, Any]) -> tuple[int, Any] | None:
        path, body = req["path"], req["json"] or {}
        if path == MEDIA_UPLOAD and req["method"] == "POST":
            return self._upload(req, self.token_ok(req["query"].get("access_token")),
                                {"errcode": 40014, "errmsg": "不合法的access_token"})
        if path not in (DINGTALK_CARD_SEND, DINGTALK_CARD_UPDATE, DINGTALK_REGISTER):
            return None
        if not self.token_ok(req["headers"].get("x-acs-dingtalk-access-token")):
            return 401, {"code": "InvalidAuthentication", "message": "不合法的access_token"}
        if path == DINGTALK_REGISTER:
            if not body.get("callbackRouteKey") or not str(body.get("callbackUrl", "")).startswith("http"):
                return 400, {"code": "param.error", "message": "callbackRouteKey and callbackUrl are required"}
            self.routes[body["callbackRouteKey"]] = body["callbackUrl"]
            return 200, {"success": True, "result": {"callbackUrl": body["callbackUrl"]}}
        try:
            card = json.loads(body.get("cardData") or "")
        except ValueError:
            return 400, {"code": "param.error", "message": "cardData must be JSON text"}
        if path == DINGTALK_CARD_UPDATE:
            known = any(m["json"].get("cardBizId") == body.get("cardBizId") for m in self.delivered)
            if req["method"] != "PUT" or not known or not isinstance(card, dict):
                return 400, {"code": "card.notExist", "message": "unknown cardBizId"}
            return 200, {"success": True, "result": True}
        to = body.get("openConversationId") or body.get("singleChatReceiver")
        if body.get("cardTemplateId") != "StandardCard" or not body.get("cardBizId") or not body.get("robotCode") \
                or not to:
            return 400, {"code": "param.error", "message": "cardTemplateId, cardBizId, robotCode and a receiver"}
        if body.get("callbackRouteKey") and body["callbackRouteKey"] not in self.routes:
            return 400, {"code": "callbackRouteKey.notExist", "message": "register the route key first"}
        self.deliver(req)
        return 200, {"success": True, "result": {"processQueryKey": f"pqk-card-{len(self.delivered)}"}}


class FakeWeComFiles(_KeepsRaw, FakeWeComButtons):
    def __init__(self, corp_id: str, secret: str, **kw: Any) -> None:
        super().__init__(corp_id, secret, **kw)
        self.uploads: list[dict[str, Any]] = []

    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:
        if req["path"] == WECOM_UPLOAD and req["method"] == "POST":
            status, answer = self._upload(req, self.token_ok(req["query"].get("access_token")),
                                          {"errcode": 42001, "errmsg": "access_token expired"})
            req["accepted"] = answer.get("errcode") == 0
            return status, answer
        body = req["json"] or {}
        kind = body.get("msgtype")
        if kind in ("image", "file") and not any(u["media_id"] == (body.get(kind) or {}).get("media_id")
                                                 for u in self.uploads):
            req["accepted"] = False
            return 200, {"errcode": 40007, "errmsg": "invalid media_id"}
        return super().answer(req)


class FakeWeComAiBotCards(FakeWeComAiBot):
    UPDATE = "aibot_respond_update_msg"

    def __init__(self, bot_id: str, secret: str) -> None:
        super().__init__(bot_id, secret)
        self.updates: list[dict[str, Any]] = []         # accepted card updates
        self._events = itertools.count(1)

    def card_event(self, user: str, event_key: str, task_id: str, msgid: str, chatid: str = "") -> str:
        """Push a template_card_event as WeCom does when `user` presses a button; its req_id."""
        req_id = f"event_card_{next(self._events)}"
        body: dict[str, Any] = {"msgid": msgid, "create_time": int(time.time()), "aibotid": self.bot_id,
                                "chattype": "group" if chatid else "single", "from": {"userid": user},
                                "msgtype": "event", "event": {"eventtype": "template_card_event",
                                                              "template_card_event": {
                                                                  "card_type": "button_interaction",
                                                                  "event_key": event_key, "task_id": task_id}}}
        if chatid:
            body["chatid"] = chatid
        self.push(json.dumps({"cmd": "aibot_event_callback", "headers": {"req_id": req_id}, "body": body},
                             ensure_ascii=False))
        return req_id

    def on_frame(self, conn, frame: Any) -> None:
        if frame.get("cmd") != self.UPDATE:
            super().on_frame(conn, frame)
            return
        req_id = frame.get("headers", {}).get("req_id", "")
        card = (frame.get("body") or {}).get("template_card") or {}
        ok = req_id.startswith("event_card_") and frame["body"].get("response_type") == "update_template_card" \
            and bool(card.get("task_id")) and not self.refuse_next.pop(self.UPDATE, 0)    # too late: refused
        if ok:
            with self._ws_cv:
                self.updates.append(frame)
                self._ws_cv.notify_all()
        conn.send(json.dumps({"headers": {"req_id": req_id}, "errcode": 0 if ok else 40058,
                              "errmsg": "ok" if ok else "invalid card update"}))


class FakeDingTalkStreamCards(FakeDingTalkStream, FakeDingTalkCards):
    """DingTalk in Stream mode with the card APIs: presses come as card callbacks over the socket."""

    def __init__(self, app_key: str, app_secret: str, **kw: Any) -> None:
        FakeDingTalkStream.__init__(self, app_key, app_secret, **kw)
        self.uploads, self.routes = [], {}

    def card_callback(self, data: dict[str, Any], message_id: str) -> str:
        """Push a card callback (a button pressed) as DingTalk does on the card topic; its messageId."""
        frame = json.dumps({"specVersion": "1.0", "type": "CALLBACK", "data": json.dumps(data, ensure_ascii=False),
                            "headers": {"appId": "app-1", "connectionId": "conn-1", "contentType": "application/json",
                                        "messageId": message_id, "time": str(int(time.time() * 1000)),
                                        "topic": CARD_TOPIC}})
        self.push(frame)
        return message_id
