"""The generic signed webhook (our own protocol, see DESIGN.md's outside contract).

Inbound: JSON {event_id, chat_id, user_id, text, user_name?, chat_type?, mentioned?, locale?},
headers X-SmartBot-Timestamp (unix seconds, within 5 minutes) and
X-SmartBot-Signature: sha256=<hex HMAC-SHA256(secret, timestamp + "." + raw body)>.
Outbound: JSON {event_id, chat_id, text, reply_to} POSTed to callback_url, signed the same way;
event_id is the reply's own id, identical on every retry.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any

from ..errors import PayloadError, SignatureError
from ..messages import DIRECT, GROUP, InboundMessage, Reply
from ..settings.schema import setting
from .support import http
from .base import Channel, WebRequest
from .support.common import signed_headers
from .support.timestamps import check_window

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-SmartBot-Timestamp"
SIGNATURE_HEADER = "X-SmartBot-Signature"
MAX_ID_LENGTH = 200


@dataclass
class GenericConfig:
    secret: str = setting(required=True, secret=True, help="the HMAC key shared with the sender")
    callback_url: str = setting(required=True, url=True, help="where replies are POSTed")
    tolerance_seconds: int = setting(300, minimum=1)
    connect_timeout: float = setting(3.0, minimum=0.1)
    read_timeout: float = setting(10.0, minimum=0.1)

    def validate(self, path: str) -> None:
        if len(self.secret) < 16:
            log.warning("%s.secret is shorter than 16 characters; use a long random value", path)


def sign(secret: str, timestamp: str, body: bytes) -> str:
    mac = hmac.new(secret.encode("utf-8"), timestamp.encode("ascii") + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


class GenericChannel(Channel):
    name = "generic"
    config_class = GenericConfig

    def __init__(self, config: GenericConfig) -> None:
        super().__init__(config)
        self._http = http.pooled_session()

    def verify(self, req: WebRequest) -> None:
        timestamp, signature = signed_headers(req, TIMESTAMP_HEADER, SIGNATURE_HEADER)
        expected = sign(self.config.secret, timestamp, req.body)
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise SignatureError("signature does not match")
        check_window(timestamp, self.config.tolerance_seconds, TIMESTAMP_HEADER)

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        data = req.json()
        if not isinstance(data, dict):
            raise PayloadError("body must be a JSON object")
        event_id = _required_id(data, "event_id")
        chat_id = _required_id(data, "chat_id")
        user_id = _required_id(data, "user_id")
        text = data.get("text")
        if not isinstance(text, str) or not text.strip():
            raise PayloadError("missing field: text (a non-empty string)")
        chat_type = data.get("chat_type", DIRECT)
        if chat_type not in (DIRECT, GROUP):
            raise PayloadError("chat_type must be \"direct\" or \"group\"")
        user_name = data.get("user_name") or ""
        if not isinstance(user_name, str):
            raise PayloadError("user_name must be a string")
        mentioned = data.get("mentioned", True)
        if not isinstance(mentioned, bool):
            raise PayloadError("mentioned must be true or false")
        locale = data.get("locale") or ""
        return [InboundMessage(channel=self.name, event_id=event_id, message_id=event_id, chat_id=chat_id,
                               chat_type=chat_type, user_id=user_id, user_name=user_name[:200],
                               text=text, mentioned=mentioned, locale=str(locale)[:20], raw=data)]

    def send(self, reply: Reply) -> None:
        body = json.dumps({"event_id": reply.delivery_id, "chat_id": reply.chat_id, "text": reply.text,
                           "reply_to": reply.reply_to}, ensure_ascii=False).encode("utf-8")
        timestamp = str(int(time.time()))
        headers = {"Content-Type": "application/json", TIMESTAMP_HEADER: timestamp,
                   SIGNATURE_HEADER: sign(self.config.secret, timestamp, body)}
        if reply.request_id:
            headers["X-Request-ID"] = reply.request_id
        http.request(self._http, "POST", self.config.callback_url, data=body, headers=headers,
                     timeout=(self.config.connect_timeout, self.config.read_timeout))

    def close(self) -> None:
        self._http.close()


def _required_id(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if isinstance(value, bool) or not isinstance(value, (str, int)) or value == "":
        raise PayloadError(f"missing field: {key} (a non-empty string)")
    text = str(value)
    if len(text) > MAX_ID_LENGTH:
        raise PayloadError(f"{key} is longer than {MAX_ID_LENGTH} characters")
    return text
