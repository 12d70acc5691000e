"""Fake Feishu, DingTalk and WeCom open APIs: real HTTP servers on loopback that hand out access
tokens, check them on every send, and record what arrived.

Each behaves like its platform where our code depends on it: the token endpoint with its own
request and answer shape, errors in the body (Feishu `code`, DingTalk `code` with 4xx, WeCom
`errcode` with 200), and Feishu's `uuid` de-duplication. Tests queue special answers with
`script(path_prefix, status, body, headers)` and make every issued token invalid with
`revoke_tokens()`. Replies shown while written are faked too: Feishu's card updates (PATCH of a
message) and DingTalk's AI card (createAndDeliver, streaming updates); each delivered message's
`edits` lists what later calls made it read, and `text_of()` what it reads now.
"""
from __future__ import annotations

import itertools
import json
import threading
import time
from contextlib import contextmanager
from typing import Any, Iterator, TypeVar
from urllib.parse import parse_qsl, urlsplit

from .httpserver import LoopbackServer, QuietHandler

P = TypeVar("P", bound="FakeOpenPlatform")


@contextmanager
def running(server: P) -> Iterator[P]:
    """The fake platform serving for the duration of a `with` block (or a fixture's yield)."""
    server.start()
    try:
        yield server
    finally:
        server.stop()


def start_app(live_app: Any, make_config: Any, fake_model: Any, channel: str, section: dict[str, Any]) -> Any:
    """A LiveApp with the fake model and one channel configured by `section`."""
    return live_app(make_config(model=fake_model, channels={channel: section}))


class _Handler(QuietHandler):
    def do_GET(self) -> None:  # noqa: N802 - http.server's naming
        self._answer("GET")

    def do_POST(self) -> None:  # noqa: N802
        self._answer("POST")

    def do_PATCH(self) -> None:  # noqa: N802
        self._answer("PATCH")

    def do_PUT(self) -> None:  # noqa: N802
        self._answer("PUT")

    def _answer(self, method: str) -> None:
        platform: FakeOpenPlatform = self.server.owner  # type: ignore[attr-defined]
        status, body, headers = platform.dispatch(method, self.path, dict(self.headers), self.read_body())
        self.send(status, json.dumps(body, ensure_ascii=False).encode("utf-8"), headers=headers)


class FakeOpenPlatform(LoopbackServer):
    def __init__(self, token_lifetime: float = 7200) -> None:
        super().__init__(_Handler)
        self.token_lifetime = token_lifetime
        self.requests: list[dict[str, Any]] = []
        self.delivered: list[dict[str, Any]] = []
        self._valid: set[str] = set()
        self._counter = itertools.count(1)
        self._script: list[tuple[str, int, Any, dict[str, str]]] = []
        self._cv = threading.Condition()

    # -- what tests call --------------------------------------------------------------------
    def script(self, path_prefix: str, status: int = 200, body: Any = None, headers: dict[str, str] | None = None,
               count: int = 1) -> None:
        """The next `count` requests to paths starting with `path_prefix` get this answer."""
        with self._cv:
            self._script.extend([(path_prefix, status, body if body is not None else {}, headers or {})] * count)

    def revoke_tokens(self) -> None:
        with self._cv:
            self._valid.clear()

    def calls(self, path_prefix: str) -> list[dict[str, Any]]:
        with self._cv:
            return [r for r in self.requests if r["path"].startswith(path_prefix)]

    def wait_delivered(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        """Wait until at least `count` messages were delivered; returns all delivered so far."""
        deadline = time.monotonic() + timeout
        with self._cv:
            while len(self.delivered) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    break
                self._cv.wait(remaining)
            return list(self.delivered)

    # -- the server side --------------------------------------------------------------------
    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes
                 ) -> tuple[int, Any, dict[str, str]]:
        parts = urlsplit(raw_path)
        try:
            body = json.loads(raw) if raw else None
        except ValueError:
            body = None
        req = {"method": method, "path": parts.path, "query": dict(parse_qsl(parts.query)),
               "headers": {k.lower(): v for k, v in headers.items()}, "json": body, "at": time.time()}
        with self._cv:
            self.requests.append(req)
            for i, (prefix, status, answer, answer_headers) in enumerate(self._script):
                if req["path"].startswith(prefix):
                    del self._script[i]
                    req["scripted"] = status
                    return status, answer, answer_headers
        status, answer = self.answer(req)
        return status, answer, {}

    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:
        raise AssertionError(f"{type(self).__name__} has no route for {req['method']} {req['path']}")

    def issue_token(self) -> str:
        with self._cv:
            token = f"tok-{next(self._counter)}-{time.time_ns()}"
            self._valid.add(token)
            return token

    def token_ok(self, token: str | None) -> bool:
        with self._cv:
            return bool(token) and token in self._valid

    def deliver(self, req: dict[str, Any]) -> None:
        with self._cv:
            self.delivered.append(req)
            self._cv.notify_all()

    def edit(self, key: str, value: Any, text: str) -> bool:
        """Record an edit of the delivered message whose `key` is `value`; False when there is none."""
        with self._cv:
            message = next((m for m in self.delivered if m.get(key) == value), None)
            if message is None:
                return False
            message.setdefault("edits", []).append(text)
            self._cv.notify_all()
            return True

    def tokens_issued(self, path: str) -> int:
        return len(self.calls(path))


class FakeFeishu(FakeOpenPlatform):
    TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"

    def __init__(self, app_id: str, app_secret: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.app_id, self.app_secret = app_id, app_secret
        self._uuids: set[str] = set()

    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:
        body = req["json"] or {}
        if req["path"] == self.TOKEN_PATH:
            if body.get("app_id") != self.app_id or body.get("app_secret") != self.app_secret:
                return 400, {"code": 10014, "msg": "app secret invalid"}
            return 200, {"code": 0, "msg": "ok", "tenant_access_token": self.issue_token(),
                         "expire": self.token_lifetime}
        if req["path"].startswith("/open-apis/cardkit/"):       # an app without the scope (fake_feishu_cards.py has it)
            return 400, {"code": 99991672, "msg": "Access denied. One of the following scopes is required: "
                                                  "[cardkit:card:write]"}
        if req["path"].startswith("/open-apis/im/v1/messages"):
            auth = req["headers"].get("authorization", "")
            if not auth.startswith("Bearer ") or not self.token_ok(auth[len("Bearer "):]):
                return 400, {"code": 99991663, "msg": "Invalid access token for authorization."}
            if req["method"] == "PATCH":
                return self._update_card(req["path"].rsplit("/", 1)[1], body)
            if not isinstance(body.get("content"), str) or body.get("msg_type") not in ("text", "post", "interactive",
                                                                                        "image", "file"):
                return 400, {"code": 230001, "msg": "invalid message content"}
            uuid = body.get("uuid")
            if not uuid or uuid not in self._uuids:       # Feishu sends one message per uuid
                self._uuids.add(uuid)
                req["message_id"] = f"om_sent_{len(self.delivered) + 1}"
                self.deliver(req)
            return 200, {"code": 0, "msg": "success", "data": {"message_id": f"om_sent_{len(self.delivered)}"}}
        return super().answer(req)

    def _update_card(self, message_id: str, body: dict[str, Any]) -> tuple[int, Any]:
        with self._cv:
            message = next((m for m in self.delivered if m.get("message_id") == message_id), None)
        if message is None or message["json"].get("msg_type") != "interactive" or not isinstance(body.get("content"), str):
            return 400, {"code": 230001, "msg": "only a card can be updated"}
        self.edit("message_id", message_id, body["content"])
        return 200, {"code": 0, "msg": "success"}

    def text_of(self, message: dict[str, Any]) -> str:
        """What a delivered message reads now: a card's markdown after its last update, or the text."""
        content = json.loads((message.get("edits") or [message["json"]["content"]])[-1])
        if "elements" in content:
            return content["elements"][0]["content"]
        return content.get("text") or content["zh_cn"]["content"][0][0]["text"]


class FakeDingTalk(FakeOpenPlatform):
    TOKEN_PATH = "/v1.0/oauth2/accessToken"
    SESSION_PATH = "/robot/sendBySession"

    def __init__(self, app_key: str, app_secret: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.app_key, self.app_secret = app_key, app_secret

    @property
    def session_webhook(self) -> str:
        return f"{self.url}{self.SESSION_PATH}?session=test-session"

    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:
        body = req["json"] or {}
        if req["path"] == self.TOKEN_PATH:
            if body.get("appKey") != self.app_key or body.get("appSecret") != self.app_secret:
                return 400, {"code": "invalidClientIdOrSecret", "message": "无效的clientId或者clientSecret"}
            return 200, {"accessToken": self.issue_token(), "expireIn": self.token_lifetime}
        if req["path"] == self.SESSION_PATH:
            self.deliver(req)
            return 200, {"errcode": 0, "errmsg": "ok"}
        card = req["path"].startswith("/v1.0/card/")
        if card or req["path"] in ("/v1.0/robot/groupMessages/send", "/v1.0/robot/oToMessages/batchSend"):
            if not self.token_ok(req["headers"].get("x-acs-dingtalk-access-token")):
                return 401, {"code": "InvalidAuthentication", "message": "不合法的access_token"}
            if card:
                return self._card(req["method"], req["path"], body, req)
            self.deliver(req)
            return 200, {"processQueryKey": f"pqk-{len(self.delivered)}"}
        return super().answer(req)

    def _card(self, method: str, path: str, body: dict[str, Any], req: dict[str, Any]) -> tuple[int, Any]:
        """The AI card: created and delivered once per outTrackId, then streamed into and finished."""
        track = body.get("outTrackId")
        if method == "POST" and path == "/v1.0/card/instances/createAndDeliver":
            if not body.get("cardTemplateId") or not track or not str(body.get("openSpaceId", "")).startswith("dtv1.card//"):
                return 400, {"code": "param.error", "message": "cardTemplateId, outTrackId and openSpaceId are required"}
            if any(m.get("track") == track for m in self.delivered):
                return 400, {"code": "card.outTrackIdExists", "message": "outTrackId already used"}
            req["track"] = track
            self.deliver(req)
            return 200, {"success": True, "result": {"outTrackId": track}}
        if method == "PUT" and path == "/v1.0/card/streaming" and body.get("key") and body.get("guid"):
            ok = self.edit("track", track, json.dumps({"content": body.get("content"), "final": body.get("isFinalize")}))
        elif method == "PUT" and path == "/v1.0/card/instances":
            params = (body.get("cardData") or {}).get("cardParamMap") or {}
            ok = self.edit("track", track, json.dumps({"content": params.get("msgContent"),
                                                      "status": params.get("flowStatus")}))
        else:
            return 404, {"code": "notFound", "message": "no such card API"}
        return (200, {"success": True}) if ok else (400, {"code": "card.notExist", "message": "unknown outTrackId"})

    def text_of(self, message: dict[str, Any]) -> str:
        """What a delivered reply reads now: an AI card after its last update, or the message's text."""
        if message.get("track"):
            edits = message.get("edits") or []
            return json.loads(edits[-1])["content"] if edits else \
                message["json"]["cardData"]["cardParamMap"]["msgContent"]
        body = message["json"]
        return (body.get("markdown") or body.get("text") or {}).get("text") or body.get("text", {}).get("content") \
            or json.loads(body.get("msgParam") or "{}").get("text") or json.loads(body.get("msgParam") or "{}").get("content")


class FakeWeCom(FakeOpenPlatform):
    TOKEN_PATH = "/cgi-bin/gettoken"
    SEND_PATH = "/cgi-bin/message/send"

    def __init__(self, corp_id: str, secret: str, **kw: Any) -> None:
        super().__init__(**kw)
        self.corp_id, self.secret = corp_id, secret

    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:
        query = req["query"]
        if req["path"] == self.TOKEN_PATH and req["method"] == "GET":
            if query.get("corpid") != self.corp_id or query.get("corpsecret") != self.secret:
                return 200, {"errcode": 40001, "errmsg": "invalid credential"}
            return 200, {"errcode": 0, "errmsg": "ok", "access_token": self.issue_token(),
                         "expires_in": self.token_lifetime}
        if req["path"] == self.SEND_PATH and req["method"] == "POST":
            if not self.token_ok(query.get("access_token")):
                return 200, {"errcode": 42001, "errmsg": "access_token expired"}
            self.deliver(req)
            return 200, {"errcode": 0, "errmsg": "ok", "invaliduser": "", "msgid": f"msg-{len(self.delivered)}"}
        return super().answer(req)
