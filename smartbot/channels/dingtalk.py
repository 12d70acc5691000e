"""DingTalk enterprise robot in HTTP callback mode: signed callbacks in, session webhook or open API out.

Inbound: headers `timestamp` (ms) and `sign` = base64(HMAC-SHA256(app_secret, timestamp + "\\n" +
app_secret)), refused beyond a 1-hour window. Messages are keyed on msgId (DingTalk resends when no
reply comes within about a minute). The callback is answered with an empty 200 at once.
Outbound: to the callback's sessionWebhook while it is valid (only to hosts listed in
session_webhook_hosts; a callback naming another host is refused, and so audited), otherwise
through the open API with a cached accessToken: group chats via /v1.0/robot/groupMessages/send,
direct chats via /v1.0/robot/oToMessages/batchSend.
Never logs or returns the app secret, the access token or a session webhook URL (it is a credential).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlparse

import requests

from ..errors import ConfigError, DeliveryError, PayloadError, SignatureError
from ..httputil import retry_after_seconds
from ..messages import DIRECT, GROUP, Attachment, InboundMessage, Reply
from ..settings_schema import setting
from . import http
from .base import Channel, WebRequest, WebResponse
from .groups import addressed, group_trigger_setting
from .open_api import AccessTokenCache, TokenRejected, json_object, with_token
from .timestamps import check_window

log = logging.getLogger(__name__)

CONVERSATION_TYPES = {"1": DIRECT, "2": GROUP}
SESSION_RATE_LIMIT_CODES = {130101, 130102}
WEBHOOK_MARGIN = 60.0        # seconds before its expiry a session webhook is no longer used


@dataclass
class DingTalkConfig:
    app_key: str = setting(required=True, help="the AppKey (Client ID) from the app's Credentials page")
    app_secret: str = setting(required=True, secret=True,
                              help="the AppSecret (Client Secret); it also signs the robot's callbacks")
    robot_code: str = setting("", help="the robot's RobotCode; by default the robotCode each callback carries")
    session_webhook_hosts: list[str] = setting(["oapi.dingtalk.com", "api.dingtalk.com"],
                                               help="hosts a callback's sessionWebhook may point to")
    group_trigger: str = group_trigger_setting()
    api_base: str = setting("https://api.dingtalk.com", url=True)
    tolerance_seconds: float = setting(3600.0, minimum=60, help="how far a callback's timestamp may be off")
    connect_timeout: float = setting(3.0, minimum=0.1)
    read_timeout: float = setting(10.0, minimum=0.1)

    def validate(self, path: str) -> None:
        self.session_webhook_hosts = [h.strip().lower() for h in self.session_webhook_hosts if h.strip()]
        if not self.session_webhook_hosts:
            raise ConfigError(f"{path}.session_webhook_hosts", "is empty, so every callback would be refused",
                              'remove the key to use DingTalk\'s own hosts ["oapi.dingtalk.com", "api.dingtalk.com"]')


class DingTalkChannel(Channel):
    name = "dingtalk"
    config_class = DingTalkConfig
    text_limit = 6000
    limit_in_bytes = True
    supports_markdown = True

    def __init__(self, config: DingTalkConfig) -> None:
        super().__init__(config)
        self._http = http.pooled_session()
        self.tokens = AccessTokenCache("dingtalk", self._fetch_token)

    # -- inbound ---------------------------------------------------------------------------
    def verify(self, req: WebRequest) -> None:
        timestamp, sign = req.headers.get("timestamp", ""), req.headers.get("sign", "")
        if not timestamp or not sign:
            raise SignatureError("missing timestamp or sign header")
        if not hmac.compare_digest(signature(self.config.app_secret, timestamp).encode("utf-8", "replace"),
                                   sign.strip().encode("utf-8", "replace")):
            raise SignatureError("sign does not match: check channels.dingtalk.app_secret")
        check_window(timestamp, self.config.tolerance_seconds, "timestamp header", per_second=1000)

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        data = req.json()
        if not isinstance(data, dict):
            raise PayloadError("body must be a JSON object")
        chat_type = CONVERSATION_TYPES.get(str(data.get("conversationType")))
        if chat_type is None or (data.get("chatbotUserId") and data.get("senderId") == data.get("chatbotUserId")):
            return []
        text, attachments = _content(data)
        if not text and not attachments:
            return []
        msg_id = _required(data, "msgId")
        chat_id = _required(data, "conversationId")
        staff_id = str(data.get("senderStaffId") or "")
        user_id = staff_id or _required(data, "senderId")
        context: dict[str, Any] = {"conversation_type": str(data.get("conversationType")), "conversation_id": chat_id,
                                   "staff_id": staff_id, "robot_code": str(data.get("robotCode") or "")}
        webhook = data.get("sessionWebhook")
        if webhook:
            if not isinstance(webhook, str) or not self._allowed_webhook(webhook):
                raise PayloadError(f"sessionWebhook host {_host(webhook)!r} is not in "
                                   "channels.dingtalk.session_webhook_hosts")
            context["session_webhook"] = webhook
            context["session_webhook_expires"] = _number(data.get("sessionWebhookExpiredTime")) / 1000
        mentioned = chat_type == DIRECT or data.get("isInAtList") is True
        return [InboundMessage(
            channel=self.name, event_id=msg_id, message_id=msg_id, chat_id=chat_id, chat_type=chat_type,
            user_id=user_id, user_name=str(data.get("senderNick") or "")[:200], text=text,
            mentioned=addressed(chat_type, mentioned, self.config.group_trigger), attachments=attachments,
            reply_context=context, raw=data)]

    def acknowledge(self, req: WebRequest, accepted: list[InboundMessage], duplicates: int) -> WebResponse:
        return WebResponse(200, "")

    def _allowed_webhook(self, url: str) -> bool:
        parsed = urlparse(url)
        return parsed.scheme in ("https", "http") and (parsed.hostname or "") in self.config.session_webhook_hosts

    # -- outbound --------------------------------------------------------------------------
    def send(self, reply: Reply) -> None:
        ctx = reply.reply_context
        webhook = str(ctx.get("session_webhook") or "")
        expires = float(ctx.get("session_webhook_expires") or 0)
        if webhook and self._allowed_webhook(webhook) and time.time() < expires - WEBHOOK_MARGIN:
            try:
                self._send_by_session(webhook, reply)
                return
            except DeliveryError as exc:
                if exc.retryable:
                    raise
                log.info("dingtalk session webhook refused a reply (%s); using the open API", exc.reason)
        self._send_by_open_api(reply)

    def close(self) -> None:
        self._http.close()

    def _send_by_session(self, webhook: str, reply: Reply) -> None:
        if reply.format == "markdown":
            body = {"msgtype": "markdown", "markdown": {"title": _title(reply.text), "text": reply.text}}
        else:
            body = {"msgtype": "text", "text": {"content": reply.text}}
        resp = http.request(self._http, "POST", webhook, json=body, timeout=self._timeout)
        data = json_object(resp, "DingTalk")
        code = data.get("errcode", 0)
        if code == 0:
            return
        if code in SESSION_RATE_LIMIT_CODES:
            raise DeliveryError(f"DingTalk is rate limiting the robot (errcode {code})", retryable=True)
        raise DeliveryError(f"DingTalk refused the reply (errcode {code}: {str(data.get('errmsg') or '')[:200]})",
                            retryable=False)

    def _send_by_open_api(self, reply: Reply) -> None:
        ctx = reply.reply_context
        robot_code = self.config.robot_code or str(ctx.get("robot_code") or "")
        if not robot_code:
            raise DeliveryError("no robot code for the open API: set channels.dingtalk.robot_code", retryable=False)
        if reply.format == "markdown":
            key, param = "sampleMarkdown", {"title": _title(reply.text), "text": reply.text}
        else:
            key, param = "sampleText", {"content": reply.text}
        body: dict[str, Any] = {"robotCode": robot_code, "msgKey": key,
                                "msgParam": json.dumps(param, ensure_ascii=False)}
        if ctx.get("conversation_type") == "2":
            path = "/v1.0/robot/groupMessages/send"
            body["openConversationId"] = str(ctx.get("conversation_id") or reply.chat_id)
        else:
            if not ctx.get("staff_id"):
                raise DeliveryError("the sender has no staff id, so the open API cannot reach them", retryable=False)
            path = "/v1.0/robot/oToMessages/batchSend"
            body["userIds"] = [str(ctx["staff_id"])]
        url = self.config.api_base.rstrip("/") + path
        data = with_token(self.tokens, lambda token: self._call(url, body, {"x-acs-dingtalk-access-token": token}))
        if data.get("flowControlledStaffIdList"):
            raise DeliveryError("DingTalk is rate limiting messages to this user", retryable=True)
        if data.get("invalidStaffIdList"):
            raise DeliveryError("DingTalk says the recipient is not a valid staff id", retryable=False)

    def _call(self, url: str, body: dict[str, Any], headers: dict[str, str]) -> dict[str, Any]:
        resp = http.request(self._http, "POST", url, json=body, headers=headers, timeout=self._timeout,
                            answer_client_errors=True)
        data = json_object(resp, "DingTalk")
        if resp.status_code < 400:
            return data
        raise _open_api_error(resp, data)

    def _fetch_token(self) -> tuple[str, float]:
        url = self.config.api_base.rstrip("/") + "/v1.0/oauth2/accessToken"
        try:
            data = self._call(url, {"appKey": self.config.app_key, "appSecret": self.config.app_secret}, {})
        except DeliveryError as exc:
            if exc.retryable and not isinstance(exc, TokenRejected):
                raise
            raise DeliveryError(f"DingTalk refused channels.dingtalk.app_key / app_secret ({exc.reason}); copy "
                                "both from the app's Credentials page", retryable=False) from None
        return str(data.get("accessToken") or ""), _number(data.get("expireIn"))

    @property
    def _timeout(self) -> tuple[float, float]:
        return (self.config.connect_timeout, self.config.read_timeout)


def signature(app_secret: str, timestamp: str) -> str:
    """The `sign` header DingTalk puts on a callback made at `timestamp` (ms)."""
    mac = hmac.new(app_secret.encode("utf-8"), f"{timestamp}\n{app_secret}".encode("utf-8"), hashlib.sha256)
    return base64.b64encode(mac.digest()).decode("ascii")


def _open_api_error(resp: requests.Response, data: dict[str, Any]) -> DeliveryError:
    code = str(data.get("code") or "")
    if resp.status_code == 401 or code == "InvalidAuthentication":
        return TokenRejected(f"DingTalk rejected the access token ({resp.status_code} {code})")
    if resp.status_code == 429 or any(word in code for word in ("Throttling", "QpsLimit", "QpmLimit")):
        return DeliveryError(f"DingTalk is rate limiting ({resp.status_code} {code})", retryable=True,
                             retry_after=retry_after_seconds(resp.headers.get("Retry-After")))
    return DeliveryError(f"DingTalk refused the call ({resp.status_code} {code}: "
                         f"{str(data.get('message') or '')[:200]})", retryable=False)


def _content(data: dict[str, Any]) -> tuple[str, list[Attachment]]:
    """(text, attachments) of a callback; the robot's @mention is already removed from the text."""
    kind = data.get("msgtype")
    content = data.get("content") if isinstance(data.get("content"), dict) else {}
    if kind == "text":
        text = data.get("text") if isinstance(data.get("text"), dict) else {}
        return _str(text.get("content")).strip(), []
    if kind == "richText":
        parts, attachments = [], []
        items = content.get("richText")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and _str(item.get("text")):
                parts.append(_str(item["text"]))
            elif isinstance(item, dict) and item.get("downloadCode"):
                attachments.append(Attachment("image", key=_str(item.get("downloadCode"))))
        return "".join(parts).strip(), attachments
    if kind == "audio":       # DingTalk transcribes voice messages
        return _str(content.get("recognition")).strip(), []
    if kind in ("picture", "file", "video"):
        attachment = Attachment({"picture": "image"}.get(kind, kind), name=_str(content.get("fileName")),
                                key=_str(content.get("downloadCode")))
        return attachment.placeholder, [attachment]
    return "", []


def _title(text: str) -> str:
    """A markdown message's title (shown in notifications): its first line, without markup."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.strip().lstrip("#>*-` ").strip()[:30] or "SmartBot"


def _required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise PayloadError(f"missing field: {key}")
    return value


def _number(value: Any) -> float:
    try:
        return float(value or 0)
    except (TypeError, ValueError):
        return 0.0


def _str(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _host(url: Any) -> str:
    return (urlparse(url).hostname or "?") if isinstance(url, str) else "?"
