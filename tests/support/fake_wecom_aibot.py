"""A fake WeCom speaking the AI bot (智能机器人) long connection: JSON frames {cmd, headers: {req_id},
body} over a real websocket. The first command must be `aibot_subscribe` with the right bot id and
secret (else errcode 40001 and the socket closes); `ping` is answered; `aibot_respond_msg` and
`aibot_send_msg` are answered under their req_id and recorded in `delivered` (a scripted errcode
refuses the next ones); `streams()` groups the stream replies by id, as WeCom shows them (one
message per id, growing until a frame says `finish`). Tests push message and event callbacks. Checked against WeCom's own Python
SDK as a client in test_wecom_aibot.
Temporary media: `aibot_upload_media_init` / `_chunk` / `_finish` as WeCom's SDKs send them
(chunk_index from 0, at most 512 KiB raw per chunk, 100 chunks; the finish checks size and md5)
are answered under their req_id and recorded in `uploads` (refuse_next works for them too);
a reply command named in `unanswered_next` is accepted once but never answered."""
from __future__ import annotations

import base64
import binascii
import hashlib
import itertools
import json
import threading
import time
from typing import Any

from .websocket_server import WebsocketPlatform

REPLY_COMMANDS = ("aibot_respond_msg", "aibot_send_msg")
UPLOAD_COMMANDS = ("aibot_upload_media_init", "aibot_upload_media_chunk", "aibot_upload_media_finish")
CHUNK_LIMIT, MAX_CHUNKS, BAD_PARAM = 512 * 1024, 100, 40058


class FakeWeComAiBot(WebsocketPlatform):
    def __init__(self, bot_id: str, secret: str) -> None:
        super().__init__()
        self.bot_id, self.secret = bot_id, secret
        self.answer_pings = True
        self.pongs = 0
        self.refuse_next: dict[str, int] = {}       # command -> errcode for its next call
        self.delivered: list[dict[str, Any]] = []   # the replies WeCom accepted
        self.delivered_at: list[float] = []          # and when (time.time())
        self.uploads: dict[str, dict[str, Any]] = {}  # upload_id -> init body, chunks by index, media_id
        self.unanswered_next: set[str] = set()       # reply commands accepted next but never answered
        self._subscribed: set[int] = set()
        self._ids = itertools.count(1)
        self._lock = threading.Lock()

    # -- what tests call --------------------------------------------------------------------
    def message(self, body: dict[str, Any], req_id: str = "") -> str:
        """Push a message callback; its req_id."""
        req_id = req_id or f"callback_{next(self._ids)}"
        assert self.wait(self._latest_subscribed), "no subscribed client"
        self.push(json.dumps({"cmd": "aibot_msg_callback", "headers": {"req_id": req_id}, "body": body},
                             ensure_ascii=False))
        return req_id

    def event(self, eventtype: str) -> None:
        self.push(json.dumps({"cmd": "aibot_event_callback", "headers": {"req_id": f"event_{next(self._ids)}"},
                              "body": {"msgid": f"ev{next(self._ids)}", "aibotid": self.bot_id,
                                       "msgtype": "event", "event": {"eventtype": eventtype}}}))

    def wait_delivered(self, count: int, timeout: float = 10.0) -> list[dict[str, Any]]:
        self.wait(lambda: len(self.delivered) >= count, timeout)
        return list(self.delivered)

    def streams(self) -> dict[str, list[dict[str, Any]]]:
        """The stream replies accepted, by stream id, in order: WeCom shows each id as one message
        whose text is the latest frame's, final once a frame says `finish`."""
        with self._ws_cv:
            frames = [(f, at) for f, at in zip(self.delivered, self.delivered_at) if f.get("cmd") == "aibot_respond_msg"]
        found: dict[str, list[dict[str, Any]]] = {}
        for frame, at in frames:
            stream = frame["body"]["stream"]
            found.setdefault(stream["id"], []).append({**stream, "at": at})
        return found

    def _latest_subscribed(self) -> bool:
        return bool(self.connections) and id(self.connections[-1]) in self._subscribed

    def subscriptions(self) -> list[dict[str, Any]]:
        return self.frames(lambda f: isinstance(f, dict) and f.get("cmd") == "aibot_subscribe")

    # -- the platform side ------------------------------------------------------------------
    def read(self, data: str | bytes) -> Any:
        return json.loads(data)

    def on_frame(self, conn, frame: Any) -> None:
        cmd, req_id = frame.get("cmd"), frame.get("headers", {}).get("req_id", "")
        number = id(conn)
        if cmd == "aibot_subscribe":
            body = frame.get("body") or {}
            ok = body.get("bot_id") == self.bot_id and body.get("secret") == self.secret
            conn.send(json.dumps({"headers": {"req_id": req_id}, "errcode": 0 if ok else 40001,
                                  "errmsg": "ok" if ok else "invalid bot_id or secret"}))
            if not ok:
                conn.close()
                return
            with self._lock:
                self._subscribed.add(number)
            with self._ws_cv:
                self._ws_cv.notify_all()
            return
        if number not in self._subscribed:
            conn.close(4001, "subscribe first")
            return
        if cmd == "ping" and self.answer_pings:
            conn.send(json.dumps({"headers": {"req_id": req_id}, "errcode": 0, "errmsg": "ok"}))
            with self._ws_cv:
                self.pongs += 1
                self._ws_cv.notify_all()
        elif cmd in UPLOAD_COMMANDS:
            self._upload(conn, cmd, req_id, frame.get("body") if isinstance(frame.get("body"), dict) else {})
        elif cmd in REPLY_COMMANDS:
            silent = cmd in self.unanswered_next
            self.unanswered_next.discard(cmd)
            code = self.refuse_next.pop(cmd, 0)
            if code == 0:
                with self._ws_cv:
                    self.delivered.append(frame)
                    self.delivered_at.append(time.time())
                    self._ws_cv.notify_all()
            if silent:
                return
            conn.send(json.dumps({"headers": {"req_id": req_id}, "errcode": code,
                                  "errmsg": "ok" if code == 0 else "refused by the test"}))

    # -- temporary media over the connection ------------------------------------------------
    def media(self) -> dict[str, bytes]:
        """The finished uploads' bytes by media id."""
        with self._ws_cv:
            return {u["media_id"]: u["data"] for u in self.uploads.values() if u.get("media_id")}

    def media_messages(self) -> list[dict[str, Any]]:
        """The image and file messages accepted (aibot_send_msg bodies)."""
        with self._ws_cv:
            return [f["body"] for f in self.delivered if f.get("cmd") == "aibot_send_msg"
                    and f["body"].get("msgtype") in ("image", "file")]

    def _upload(self, conn, cmd: str, req_id: str, body: dict[str, Any]) -> None:
        code = self.refuse_next.pop(cmd, 0)
        answer: dict[str, Any] = {}
        with self._ws_cv:
            if code == 0:
                code, answer = getattr(self, "_" + cmd.rsplit("_", 1)[-1])(body)
            self._ws_cv.notify_all()
        conn.send(json.dumps({"headers": {"req_id": req_id}, "errcode": code, "errmsg": "ok" if code == 0 else
                              "refused by the test", **({"body": answer} if answer else {})}))

    def _init(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        chunks = body.get("total_chunks")
        if body.get("type") not in ("image", "file", "voice", "video") or not isinstance(body.get("filename"), str) \
                or not isinstance(body.get("total_size"), int) or not isinstance(chunks, int) \
                or not 1 <= chunks <= MAX_CHUNKS or not isinstance(body.get("md5"), str):
            return BAD_PARAM, {}
        upload_id = f"upload-{next(self._ids)}"
        self.uploads[upload_id] = {"init": body, "chunks": {}, "chunk_sizes": []}
        return 0, {"upload_id": upload_id}

    def _chunk(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        upload = self.uploads.get(body.get("upload_id"))
        index = body.get("chunk_index")
        if upload is None or upload.get("media_id") or not isinstance(index, int) \
                or not 0 <= index < upload["init"]["total_chunks"]:
            return BAD_PARAM, {}
        try:
            data = base64.b64decode(str(body.get("base64_data")), validate=True)
        except (binascii.Error, ValueError):
            return BAD_PARAM, {}
        if len(data) > CHUNK_LIMIT:
            return BAD_PARAM, {}
        upload["chunks"][index] = data
        upload["chunk_sizes"].append(len(data))
        return 0, {}

    def _finish(self, body: dict[str, Any]) -> tuple[int, dict[str, Any]]:
        upload = self.uploads.get(body.get("upload_id"))
        if upload is None or sorted(upload["chunks"]) != list(range(upload["init"]["total_chunks"])):
            return BAD_PARAM, {}
        data = b"".join(upload["chunks"][i] for i in sorted(upload["chunks"]))
        if len(data) != upload["init"]["total_size"] or hashlib.md5(data).hexdigest() != upload["init"]["md5"]:
            return BAD_PARAM, {}
        upload.update(data=data, media_id=f"media-{next(self._ids)}")
        return 0, {"type": upload["init"]["type"], "media_id": upload["media_id"], "created_at": str(int(time.time()))}
