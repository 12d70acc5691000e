"""A fake Feishu whose app may use CardKit and upload files: FakeFeishu plus streaming card entities
(created, streamed into element by element, settings changed, replaced whole) and im/v1/images and
im/v1/files uploads, each checked the way Feishu checks it where our code depends on it: a token on
every call, a `sequence` that grows per card, content updates only while `streaming_mode` is on,
a message naming a card entity or an upload key only when it exists. `cards[card_id]` holds what a
card shows now and every update it took (`updates`, with the time it came); `uploads[key]` the
name, type and bytes of an upload.
"""
from __future__ import annotations

import email.parser
import email.policy
import itertools
import json
import threading
from typing import Any

from .fake_open_platforms import FakeFeishu

CARDS = "/open-apis/cardkit/v1/cards"
SEQUENCE_REFUSED = 300317       # codes the fake answers with (Feishu's own say the same in words)
STREAMING_CLOSED = 300309


class FakeFeishuCards(FakeFeishu):
    def __init__(self, app_id: str, app_secret: str, **kw: Any) -> None:
        super().__init__(app_id, app_secret, **kw)
        self.cards: dict[str, dict[str, Any]] = {}
        self.uploads: dict[str, dict[str, Any]] = {}
        self._ids = itertools.count(1)
        self._local = threading.local()

    def dispatch(self, method: str, raw_path: str, headers: dict[str, str], raw: bytes
                 ) -> tuple[int, Any, dict[str, str]]:
        self._local.raw = raw           # an upload's multipart body is not JSON
        return super().dispatch(method, raw_path, headers, raw)

    def answer(self, req: dict[str, Any]) -> tuple[int, Any]:
        path = req["path"]
        cardkit = path.startswith("/open-apis/cardkit/")
        upload = path in ("/open-apis/im/v1/images", "/open-apis/im/v1/files")
        if not cardkit and not upload and not path.startswith("/open-apis/im/v1/messages"):
            return super().answer(req)
        auth = req["headers"].get("authorization", "")
        if not auth.startswith("Bearer ") or not self.token_ok(auth[len("Bearer "):]):
            return 400, {"code": 99991663, "msg": "Invalid access token for authorization."}
        if upload:
            return self._upload(req)
        if cardkit:
            with self._cv:
                return self._cardkit(req["method"], path[len(CARDS):], req["json"] or {}, req["at"])
        refused = self._unknown_reference(req["json"] or {}) if req["method"] == "POST" else ""
        if refused:
            return 400, {"code": 230001, "msg": refused}
        status, answer = super().answer(req)
        return status, answer

    # -- card entities -----------------------------------------------------------------------
    def _cardkit(self, method: str, rest: str, body: dict[str, Any], at: float) -> tuple[int, Any]:
        if method == "POST" and rest == "":
            if body.get("type") != "card_json":
                return 400, {"code": 10002, "msg": "type must be card_json"}
            card = json.loads(body.get("data") or "{}")
            card_id = f"7{next(self._ids):018d}"
            self.cards[card_id] = {"text": _element(card)["content"], "element": _element(card)["element_id"],
                                   "streaming": card["config"]["streaming_mode"], "sequence": 0, "updates": []}
            return 200, {"code": 0, "msg": "success", "data": {"card_id": card_id}}
        card_id, _, tail = rest.lstrip("/").partition("/")
        card = self.cards.get(card_id)
        if card is None:
            return 400, {"code": 300301, "msg": "card not found"}
        sequence = body.get("sequence")
        if not isinstance(sequence, int) or sequence <= card["sequence"]:
            return 400, {"code": SEQUENCE_REFUSED, "msg": "sequence number compare failed"}
        if method == "PUT" and tail == f"elements/{card['element']}/content":
            if not card["streaming"]:
                return 400, {"code": STREAMING_CLOSED, "msg": "streaming mode is closed"}
            update = {"kind": "content", "text": body.get("content")}
        elif method == "PATCH" and tail == "settings":
            update = {"kind": "settings", "streaming": json.loads(body["settings"])["config"]["streaming_mode"]}
        elif method == "PUT" and tail == "":
            whole = json.loads(body["card"]["data"])
            update = {"kind": "card", "text": _element(whole)["content"], "streaming": whole["config"]["streaming_mode"]}
        else:
            return 404, {"code": 404, "msg": "no such CardKit API"}
        card["sequence"] = sequence
        card["text"] = update.get("text", card["text"])
        card["streaming"] = update.get("streaming", card["streaming"])
        card["updates"].append({**update, "sequence": sequence, "at": at})
        self._cv.notify_all()
        return 200, {"code": 0, "msg": "success", "data": {}}

    # -- uploads and the messages naming them ---------------------------------------------------
    def _upload(self, req: dict[str, Any]) -> tuple[int, Any]:
        fields = _multipart(req["headers"].get("content-type", ""), self._local.raw)
        image = req["path"].endswith("/images")
        part = fields.get("image" if image else "file")
        if part is None or (image and fields.get("image_type", {}).get("data") != b"message") or \
                (not image and not fields.get("file_type")):
            return 400, {"code": 234001, "msg": "invalid upload"}
        key = f"{'img' if image else 'file'}_v3_{next(self._ids)}"
        with self._cv:
            self.uploads[key] = {"name": part["filename"], "mime": part["type"], "data": part["data"]}
        return 200, {"code": 0, "msg": "success", "data": {"image_key" if image else "file_key": key}}

    def _unknown_reference(self, body: dict[str, Any]) -> str:
        try:
            content = json.loads(body.get("content") or "{}")
        except ValueError:
            return "content is not JSON"
        if body.get("msg_type") == "interactive" and content.get("type") == "card":
            return "" if content.get("data", {}).get("card_id") in self.cards else "card_id not found"
        if body.get("msg_type") in ("image", "file"):
            return "" if content.get(f"{body['msg_type']}_key") in self.uploads else "unknown upload key"
        return ""

    def text_of(self, message: dict[str, Any]) -> str:
        """What a delivered message reads now; a card entity's text, an upload's `[name]`."""
        content = json.loads(message["json"]["content"])
        if content.get("type") == "card":
            with self._cv:
                return self.cards[content["data"]["card_id"]]["text"]
        key = content.get("image_key") or content.get("file_key")
        if key:
            return f"[{self.uploads[key]['name']}]"
        return super().text_of(message)

    def card_of(self, message: dict[str, Any]) -> dict[str, Any] | None:
        content = json.loads(message["json"]["content"])
        return self.cards.get(content.get("data", {}).get("card_id")) if content.get("type") == "card" else None


def _element(card: dict[str, Any]) -> dict[str, Any]:
    [element] = card["body"]["elements"]
    return element


def _multipart(content_type: str, raw: bytes) -> dict[str, dict[str, Any]]:
    message = email.parser.BytesParser(policy=email.policy.default).parsebytes(f"Content-Type: {content_type}\r\n\r\n".encode() + raw)
    fields = {}
    for part in message.iter_parts() if message.is_multipart() else []:
        name = part.get_param("name", header="content-disposition")
        fields[name] = {"filename": part.get_filename(), "type": part.get_content_type(),
                        "data": part.get_payload(decode=True) or b""}
    return fields
