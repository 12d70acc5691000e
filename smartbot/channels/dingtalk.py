"""DingTalk enterprise robot in HTTP callback mode: signed callbacks in, session webhook or open API out.

Inbound: headers `timestamp` (ms) and `sign` = base64(HMAC-SHA256(app_secret, timestamp + "\\n" +
app_secret)). The sign covers only the timestamp, not the body (the platform's design), so a
captured pair could carry any body: the window is short (replay_window, a few minutes rather than
DingTalk's hour) and the gateway accepts each pair with one body only (`single_use`, kept in the
shared database). DingTalk signs each delivery afresh, so its resends carry new pairs; they are
keyed on msgId (DingTalk resends when no reply comes within about a minute). The callback is
answered with an empty 200 at once.
Outbound: to the callback's sessionWebhook while it is valid, and only when that URL, read as the
HTTP client reads it, is https on a host of session_webhook_hosts (see reply_urls.py): checked when
the callback is parsed (refused otherwise, and so audited) and again just before sending, and the
reply goes to the URL in the form checked. Otherwise through the open API with a cached
accessToken: group chats via /v1.0/robot/groupMessages/send, direct chats via
/v1.0/robot/oToMessages/batchSend.
A reply shown while it is written (`stream`, with `card_template_id`) is an AI card created and
delivered through the open API (/v1.0/card/instances/createAndDeliver), streamed into
(PUT /v1.0/card/streaming, the whole text each time) and finished by the final reply.
Buttons: a reply offering decision buttons is an interactive card (support/dingtalk_cards.py); a
press comes back as a card callback, in Stream mode on its own topic, in HTTP mode at the
card_callback_url SmartBot registers (verified by the token in that URL, not by `sign`), keyed on
the Stream frame's messageId or the HTTP body's digest. The worker answers a decision by updating
the card (buttons gone), a refusal by a direct message to the presser. A file reply is uploaded
(oapi /media/upload) and sent as sampleImageMsg or sampleFile through the open API.
Never logs or returns the app secret, the access token or a session webhook URL (it is a credential).
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import math
import time
import uuid
from dataclasses import dataclass
from typing import Any

import requests

from ..errors import ConfigError, DeliveryError, MediaRefused, PayloadError, SignatureError
from ..httputil import retry_after_seconds
from ..messages import DIRECT, GROUP, Attachment, InboundMessage, Reply
from ..settings.schema import setting
from .support import buttons, dingtalk_cards as cards, dingtalk_content, files, http, media_upload, reply_urls
from .base import Channel, ModeConfig, SingleUse, PlatformStreamingConfig, WebRequest, WebResponse, connects
from .support.groups import addressed, group_trigger_setting
from .support.open_api import AccessTokenCache, TokenRejected, json_object, with_token
from .support.timestamps import check_window, parse as parse_timestamp

log = logging.getLogger(__name__)

CONVERSATION_TYPES = {"1": DIRECT, "2": GROUP}
SESSION_RATE_LIMIT_CODES = {130101, 130102}
WEBHOOK_MARGIN = 60.0        # seconds before its expiry a session webhook is no longer used
WEBHOOK_LIFETIME = 3 * 3600  # a session webhook lives about 90 minutes: a later expiry is not believed
MAX_REPLAY_WINDOW = 3600.0   # DingTalk's own limit
HOSTS_KEY = "channels.dingtalk.session_webhook_hosts"
AI_CARD_TEMPLATE = "382e4302-551d-4880-bf29-a30acfab2e71.schema"     # DingTalk's own AI card
_CARD_KEY = "msgContent"
_CARD_WRITING, _CARD_DONE = "2", "3"          # the AI card's flowStatus: being written, finished


@dataclass
class DingTalkConfig(ModeConfig, PlatformStreamingConfig):
    app_key: str = setting(required=True, help="the AppKey (Client ID) from the app's Credentials page")
    app_secret: str = setting(required=True, secret=True,
                              help="the AppSecret (Client Secret); it also signs the robot's callbacks")
    robot_code: str = setting("", help="the robot's RobotCode; by default the robotCode each callback carries")
    session_webhook_hosts: list[str] = setting(["oapi.dingtalk.com", "api.dingtalk.com"],
                                               help="hosts a callback's sessionWebhook may point to (https, "
                                                    "default port), or origins such as http://127.0.0.1:8080")
    group_trigger: str = group_trigger_setting()
    api_base: str = setting("https://api.dingtalk.com", url=True)
    replay_window: float = setting(300.0, minimum=10,
                                   help="seconds a callback's timestamp may be off; each timestamp/sign pair is "
                                        "accepted once within it (at most 3600)")
    tolerance_seconds: float | None = setting(None, minimum=60,
                                              help="the old name of replay_window; the smaller of the two applies")
    connect_timeout: float = setting(3.0, minimum=0.1)
    read_timeout: float = setting(10.0, minimum=0.1)
    card_callback_url: str = setting("", help="HTTP mode: this server's public https://<host>/webhooks/dingtalk, "
                                                 "registered for approval buttons' presses; empty: notices are text")
    oapi_base: str = setting("https://oapi.dingtalk.com", url=True, help="the older API's base (media upload)")
    card_template_id: str = setting(AI_CARD_TEMPLATE,
                                    help="the AI card template a reply is streamed into (stream = true); "
                                         '"" sends each reply whole')

    def validate(self, path: str) -> None:
        self.session_webhook_hosts = [h.strip().lower() for h in self.session_webhook_hosts if h.strip()]
        if not self.session_webhook_hosts:
            raise ConfigError(f"{path}.session_webhook_hosts", "is empty, so every callback would be refused",
                              'remove the key to use DingTalk\'s own hosts ["oapi.dingtalk.com", "api.dingtalk.com"]')
        reply_urls.parse_origins(self.session_webhook_hosts, f"{path}.session_webhook_hosts")
        if self.card_callback_url and not self.card_callback_url.startswith(("https://", "http://")):
            raise ConfigError(f"{path}.card_callback_url", f"must be an http(s) URL, got {self.card_callback_url!r}",
                              "give this server's public https://<host>/webhooks/dingtalk, or leave it out")
        if not math.isfinite(self.replay_window) or self.replay_window > MAX_REPLAY_WINDOW:
            raise ConfigError(f"{path}.replay_window", f"must be a number of seconds from 10 to 3600, got "
                              f"{self.replay_window!r}", "leave it out for the default, 300")
        if self.tolerance_seconds is not None:
            log.warning("%s.tolerance_seconds is the old name of replay_window; rename it (the smaller of the two "
                        "applies)", path)
            self.replay_window = min(self.replay_window, self.tolerance_seconds)

    def self_check(self) -> str:
        if self.tolerance_seconds is not None:
            return ("tolerance_seconds is the old name of replay_window: rename it (replay_window, default 300 s, "
                    "at most 3600; the smaller of the two applies meanwhile)")
        return ""


class DingTalkChannel(Channel):
    name = "dingtalk"
    config_class = DingTalkConfig
    text_limit = 6000
    limit_in_bytes = True
    supports_markdown = True

    def __init__(self, config: DingTalkConfig) -> None:
        super().__init__(config)
        self._http = http.pooled_session()
        self._origins = reply_urls.parse_origins(config.session_webhook_hosts, HOSTS_KEY)
        self.tokens = AccessTokenCache("dingtalk", self._fetch_token)
        self._route_registered = False

    # -- inbound ---------------------------------------------------------------------------
    def verify(self, req: WebRequest) -> None:
        if cards.CARD_QUERY in req.args:        # a card callback: the registered URL's token vouches for it
            given = req.args[cards.CARD_QUERY].encode("utf-8", "replace")
            if not hmac.compare_digest(given, cards.callback_token(self.config.app_secret).encode()):
                raise SignatureError("the card callback's token does not match the URL SmartBot registered")
            req.decoded = cards.CARD_QUERY
            return
        timestamp, sign = req.headers.get("timestamp", ""), req.headers.get("sign", "")
        if not timestamp or not sign:
            raise SignatureError("missing timestamp or sign header")
        if not hmac.compare_digest(signature(self.config.app_secret, timestamp).encode("utf-8", "replace"),
                                   sign.strip().encode("utf-8", "replace")):
            raise SignatureError("sign does not match: check channels.dingtalk.app_secret")
        check_window(timestamp, self.config.replay_window, "timestamp header (channels.dingtalk.replay_window)",
                     per_second=1000)

    def single_use(self, req: WebRequest) -> SingleUse | None:
        """The sign vouches for the timestamp alone: the gateway lets it vouch for one body."""
        if req.decoded == cards.CARD_QUERY:
            return None
        timestamp = req.headers.get("timestamp", "")
        return SingleUse(signature=f"{timestamp}\n{req.headers.get('sign', '').strip()}",
                         body_digest=hashlib.sha256(req.body).hexdigest(),
                         keep_until=parse_timestamp(timestamp, "timestamp header", 1000) + self.config.replay_window)

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        data = req.json()
        if not isinstance(data, dict):
            raise PayloadError("body must be a JSON object")
        if req.decoded == cards.CARD_QUERY:
            return self.parse_press(data, "h" + hashlib.sha256(req.body).hexdigest()[:40])
        chat_type = CONVERSATION_TYPES.get(str(data.get("conversationType")))
        if chat_type is None or (data.get("chatbotUserId") and data.get("senderId") == data.get("chatbotUserId")):
            return []
        text, attachments = dingtalk_content.content(data)
        if not text and not attachments:
            return []
        msg_id = dingtalk_content.required(data, "msgId")
        chat_id = dingtalk_content.required(data, "conversationId")
        staff_id = str(data.get("senderStaffId") or "")
        user_id = staff_id or dingtalk_content.required(data, "senderId")
        context: dict[str, Any] = {"conversation_type": str(data.get("conversationType")), "conversation_id": chat_id,
                                   "staff_id": staff_id, "robot_code": str(data.get("robotCode") or "")}
        webhook = data.get("sessionWebhook")
        if webhook:
            try:
                context["session_webhook"] = self._checked_webhook(webhook)
            except reply_urls.ReplyURLRefused as exc:
                raise PayloadError(f"sessionWebhook refused: {exc}; replies go only to the hosts in {HOSTS_KEY}") \
                    from None
            expires = _number(data.get("sessionWebhookExpiredTime")) / 1000
            context["session_webhook_expires"] = min(expires, time.time() + WEBHOOK_LIFETIME)
        mentioned = chat_type == DIRECT or data.get("isInAtList") is True
        return [InboundMessage(
            channel=self.name, event_id=msg_id, message_id=msg_id, chat_id=chat_id, chat_type=chat_type,
            user_id=user_id, user_name=str(data.get("senderNick") or "")[:200], text=text,
            mentioned=addressed(chat_type, mentioned, self.config.group_trigger), attachments=attachments,
            reply_context=context, raw=data)]

    def parse_press(self, data: dict[str, Any], key: str) -> list[InboundMessage]:
        """A card callback pressing one of our buttons, keyed on `key`; [] for any other callback."""
        found = cards.parse_press(data)
        if found is None:
            return []
        track, user, pressed = found
        chat = data.get("openConversationId")
        chat = chat if isinstance(chat, str) and 0 < len(chat) <= 200 else user
        return [InboundMessage(
            channel=self.name, event_id=f"press:{key[:200]}", message_id=track, chat_id=chat,
            chat_type=DIRECT if chat == user else GROUP, user_id=user, text=buttons.PRESS_TEXT, mentioned=True,
            press=pressed, reply_context={"card_biz_id": track, "presser": user, "staff_id": user})]

    def acknowledge(self, req: WebRequest, accepted: list[InboundMessage], duplicates: int) -> WebResponse:
        return WebResponse(200, {} if req.decoded == cards.CARD_QUERY else "")     # a card callback wants JSON

    def _checked_webhook(self, url: object) -> str:
        """The session webhook as it will be sent to, or ReplyURLRefused (for replies and callbacks alike)."""
        return reply_urls.checked(url, self._origins)

    # -- outbound --------------------------------------------------------------------------
    def send(self, reply: Reply) -> None:
        ctx = reply.reply_context
        answer, offered = buttons.press_answer(ctx), buttons.buttons_of(ctx)
        if answer == buttons.UPDATE:            # the pressed card shows the decision, its buttons gone
            self._open_api("PUT", cards.UPDATE_PATH, {"cardBizId": str(ctx.get("card_biz_id") or ""),
                                                      "cardData": json.dumps(cards.card_data(reply.text, []),
                                                                             ensure_ascii=False),
                                                      "updateOptions": {"updateCardDataByKey": False}})
            return
        if answer == buttons.PRIVATE:           # a direct message only the presser reads
            self._robot_send(reply, "sampleText", {"content": reply.text}, {"staff_id": ctx.get("presser")})
            return
        if reply.file:
            self._send_file(reply)
            return
        if offered and (connects(self.config) or self.config.card_callback_url):
            self._send_card(reply, offered)
            return
        webhook = ""
        if ctx.get("session_webhook") and time.time() < _number(ctx.get("session_webhook_expires")) - WEBHOOK_MARGIN:
            try:        # checked again: the context may predate a narrower setting, or an older check
                webhook = self._checked_webhook(ctx["session_webhook"])
            except reply_urls.ReplyURLRefused as exc:
                log.warning("dingtalk: not sending to the stored session webhook (%s); using the open API", exc)
        if webhook:
            try:
                self._send_by_session(webhook, reply)
                return
            except DeliveryError as exc:
                if exc.retryable:
                    raise
                log.info("dingtalk session webhook refused a reply (%s); using the open API", exc.reason)
        self._send_by_open_api(reply)

    def fetch(self, msg: InboundMessage, attachment: Attachment, limits: files.FetchLimits) -> bytes:
        """The robot file API turns the message's downloadCode into a short-lived download URL (the
        platform's answer names it, never the message), which is then read within the limits."""
        robot_code = self.config.robot_code or str(msg.reply_context.get("robot_code") or "")
        if not attachment.key or not robot_code:
            raise MediaRefused("unavailable", "no downloadCode or robot code for the file")
        url = self.config.api_base.rstrip("/") + "/v1.0/robot/messageFiles/download"
        body = {"downloadCode": attachment.key, "robotCode": robot_code}
        try:
            data = with_token(self.tokens, lambda token: self._call(url, body, {"x-acs-dingtalk-access-token": token}))
        except DeliveryError as exc:
            raise files.refused(exc) from None
        download_url = data.get("downloadUrl")
        if not isinstance(download_url, str) or not download_url.startswith(("https://", "http://")):
            raise MediaRefused("unavailable", "DingTalk answered without a download URL")
        return files.download(self._http, download_url, limits)

    def close(self) -> None:
        self._http.close()

    def _send_by_session(self, webhook: str, reply: Reply) -> None:
        if reply.format == "markdown":
            body = {"msgtype": "markdown",
                    "markdown": {"title": dingtalk_content.title(reply.text), "text": reply.text}}
        else:
            body = {"msgtype": "text", "text": {"content": reply.text}}
        resp = http.request(self._http, "POST", webhook, json=body, timeout=self._timeout, allow_redirects=False)
        data = json_object(resp, "DingTalk")
        code = data.get("errcode", 0)
        if code == 0:
            return
        if code in SESSION_RATE_LIMIT_CODES:
            raise DeliveryError(f"DingTalk is rate limiting the robot (errcode {code})", retryable=True)
        raise DeliveryError(f"DingTalk refused the reply (errcode {code}: {str(data.get('errmsg') or '')[:200]})",
                            retryable=False)

    def _send_by_open_api(self, reply: Reply) -> None:
        if reply.format == "markdown":
            self._robot_send(reply, "sampleMarkdown", {"title": dingtalk_content.title(reply.text), "text": reply.text})
        else:
            self._robot_send(reply, "sampleText", {"content": reply.text})

    def _robot_send(self, reply: Reply, key: str, param: dict[str, Any], to: dict[str, Any] | None = None) -> None:
        """One robot message through the open API, to the reply's chat (or to the staff id in `to`)."""
        group, where = self._target(reply, to)
        body: dict[str, Any] = {"robotCode": self._robot_code(reply), "msgKey": key,
                                "msgParam": json.dumps(param, ensure_ascii=False)}
        if group:
            path, body["openConversationId"] = "/v1.0/robot/groupMessages/send", where
        else:
            path, body["userIds"] = "/v1.0/robot/oToMessages/batchSend", [where]
        data = self._open_api("POST", path, body)
        if data.get("flowControlledStaffIdList"):
            raise DeliveryError("DingTalk is rate limiting messages to this user", retryable=True)
        if data.get("invalidStaffIdList"):
            raise DeliveryError("DingTalk says the recipient is not a valid staff id", retryable=False)

    def _target(self, reply: Reply, to: dict[str, Any] | None = None) -> tuple[bool, str]:
        """(is a group, its openConversationId or the person's staff id). A reply with no callback
        behind it (an approvers' notice to dingtalk:<id>) goes by its id: `cid...` names a group."""
        ctx = to or reply.reply_context
        kind = str(ctx.get("conversation_type") or "")
        if kind == "2" or (not kind and not to and reply.chat_id.startswith("cid")):
            return True, str(ctx.get("conversation_id") or reply.chat_id)
        staff = str(ctx.get("staff_id") or ("" if kind else reply.chat_id))
        if not staff:
            raise DeliveryError("the sender has no staff id, so the open API cannot reach them", retryable=False)
        return False, staff

    def _robot_code(self, reply: Reply) -> str:
        robot_code = self.config.robot_code or str(reply.reply_context.get("robot_code") or "")
        if not robot_code:
            raise DeliveryError("no robot code for the open API: set channels.dingtalk.robot_code", retryable=False)
        return robot_code

    def _send_card(self, reply: Reply, offered: list[dict[str, Any]]) -> None:
        """The interactive card with the buttons; its presses come back on Stream mode's card topic,
        or to card_callback_url (registered once per process, under this app's route key)."""
        group, where = self._target(reply)
        body: dict[str, Any] = {"cardTemplateId": cards.TEMPLATE, "robotCode": self._robot_code(reply),
                                "cardBizId": f"smartbot-{reply.delivery_id or uuid.uuid4().hex}"[:64],
                                "cardData": json.dumps(cards.card_data(reply.text, offered), ensure_ascii=False),
                                "sendOptions": {}}
        if group:
            body["openConversationId"] = where
        else:
            body["singleChatReceiver"] = json.dumps({"userId": where})
        if connects(self.config):
            body["callbackType"] = "STREAM"
        else:
            self._register_card_route()
            body["callbackRouteKey"] = cards.route_key(self.config.app_key)
        self._open_api("POST", cards.SEND_PATH, body)

    def _register_card_route(self) -> None:
        if self._route_registered:
            return
        url = self.config.card_callback_url
        token = cards.callback_token(self.config.app_secret)
        self._open_api("POST", cards.REGISTER_PATH, {
            "callbackRouteKey": cards.route_key(self.config.app_key), "apiSecret": token, "forceUpdate": True,
            "callbackUrl": f"{url}{'&' if '?' in url else '?'}{cards.CARD_QUERY}={token}"})
        self._route_registered = True

    def _send_file(self, reply: Reply) -> None:
        """Uploaded for a media id, then sent as an image or file message through the open API."""
        url = self.config.oapi_base.rstrip("/") + "/media/upload"
        media_id = with_token(self.tokens, lambda token: media_upload.upload(
            self._http, url, token, reply.file, reply.file_bytes(), self._timeout, "DingTalk"))
        name = reply.file.get("name") or "file"
        if media_upload.kind_of(reply.file) == "image":
            self._robot_send(reply, "sampleImageMsg", {"photoURL": media_id})
        else:
            self._robot_send(reply, "sampleFile", {"mediaId": media_id, "fileName": name,
                                                   "fileType": name.rsplit(".", 1)[-1].lower()[:10]})

    # -- replies shown while written: an AI card, streamed into until it holds the final reply --
    def can_preview(self, reply: Reply) -> bool:
        ctx = reply.reply_context
        return bool(self.config.card_template_id and (self.config.robot_code or ctx.get("robot_code"))
                    and (ctx.get("conversation_type") == "2" or ctx.get("staff_id")))

    def start_preview(self, reply: Reply) -> str:
        ctx = reply.reply_context
        track = f"smartbot-{reply.delivery_id}"
        body: dict[str, Any] = {
            "cardTemplateId": self.config.card_template_id, "outTrackId": track, "callbackType": "STREAM",
            "cardData": {"cardParamMap": {"config": json.dumps({"autoLayout": True}), "flowStatus": _CARD_WRITING,
                                          _CARD_KEY: reply.text}}}
        robot_code = self.config.robot_code or str(ctx.get("robot_code") or "")
        if ctx.get("conversation_type") == "2":
            body["openSpaceId"] = f"dtv1.card//IM_GROUP.{ctx.get('conversation_id') or reply.chat_id}"
            body["imGroupOpenSpaceModel"] = {"supportForward": True}
            body["imGroupOpenDeliverModel"] = {"robotCode": robot_code}
        else:
            body["openSpaceId"] = f"dtv1.card//IM_ROBOT.{ctx.get('staff_id')}"
            body["imRobotOpenSpaceModel"] = {"supportForward": True}
            body["imRobotOpenDeliverModel"] = {"spaceType": "IM_ROBOT", "robotCode": robot_code}
        self._open_api("POST", "/v1.0/card/instances/createAndDeliver", body)
        return track

    def update_preview(self, reply: Reply, handle: str) -> None:
        self._stream_card(reply, handle, final=False)

    def finish_preview(self, reply: Reply, handle: str) -> None:
        self._stream_card(reply, handle, final=True)
        self._open_api("PUT", "/v1.0/card/instances", {"outTrackId": handle, "cardData": {"cardParamMap": {
            "flowStatus": _CARD_DONE, _CARD_KEY: reply.text}}})

    def _stream_card(self, reply: Reply, handle: str, final: bool) -> None:
        self._open_api("PUT", "/v1.0/card/streaming", {
            "outTrackId": handle, "guid": str(uuid.uuid4()), "key": _CARD_KEY, "content": reply.text,
            "isFull": True, "isFinalize": final, "isError": False})

    def _open_api(self, method: str, path: str, body: dict[str, Any]) -> dict[str, Any]:
        url = self.config.api_base.rstrip("/") + path
        return with_token(self.tokens, lambda token: self._call(url, body, {"x-acs-dingtalk-access-token": token},
                                                                method))

    def _call(self, url: str, body: dict[str, Any], headers: dict[str, str], method: str = "POST") -> dict[str, Any]:
        resp = http.request(self._http, method, url, json=body, headers=headers, timeout=self._timeout,
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


def _number(value: Any) -> float:
    """A finite number from a callback or a stored context; 0 for anything else (NaN, inf, text)."""
    try:
        number = float(value or 0)
    except (TypeError, ValueError, OverflowError):
        return 0.0
    return number if math.isfinite(number) else 0.0
