"""WeCom (企业微信) self-built app: encrypted XML callbacks in, message/send with an access token out.

Inbound: query msg_signature, timestamp, nonce; the signature is the hex SHA-1 of the sorted
[token, timestamp, nonce, encrypted]. GET (the console's URL check) carries `echostr`: verified,
decrypted and answered as plain text. POST carries XML whose Encrypt element decrypts (see
`wecom_crypto`) to the message XML. XML is parsed only with defusedxml and any DTD is refused,
so entity expansion and external entities never run. Text and media messages are keyed on MsgId;
events (enter_agent, ...) are acknowledged and ignored. App messages are always direct.
Outbound: POST /cgi-bin/message/send?access_token=... The token rides in the URL, so no URL of
this module is ever logged or put in an error; content is split to 2048 bytes.
Buttons: a reply offering decision buttons is a template card (button_interaction) whose button
keys are the press's data, its task id the reply's delivery id. A press is the template_card_event
callback (signed and encrypted like a message), keyed on its ResponseCode; the worker answers a
decision with update_template_card (the buttons replaced by the decision's first line, not
pressable again; a command's output reaches its requester, not the card),
and a refusal as an ordinary message to the presser, which in an app's one-person chat only they see.
A file reply is uploaded (/cgi-bin/media/upload) and sent as an image or file message.
Connect mode is a different kind of bot: an AI bot (智能机器人) on its long connection
(channels/connect/wecom.py), with a bot id and secret instead of the app's keys. Its messages are
JSON (`parse_aibot`), keyed on msgid; its replies go back over the same connection, handed to the
connection by the process holding it (`hold_aibot_socket`). A reply shown while it is written
(`stream`) is the AI bot's stream reply: frames with the same id (the reply's delivery id) and the
text so far, the final one with `finish`. The self-built app cannot edit a message: it gets replies whole.
The AI bot's buttons, presses and card updates: support/wecom_aibot.py. Its file replies are uploaded
over the same connection and pushed as image or file messages: support/wecom_aibot_media.py.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import logging
import re
from dataclasses import dataclass
from typing import Any, Optional
from urllib.parse import urlsplit
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ..errors import ConfigError, DeliveryError, MediaRefused, PayloadError, SignatureError
from ..messages import DIRECT, GROUP, Attachment, InboundMessage, Reply
from ..settings.schema import setting
from .support import buttons, files, http, media_upload, wecom_aibot as aibot, wecom_aibot_media as aibot_media
from .base import Channel, ModeConfig, PlatformStreamingConfig, WebRequest, WebResponse, connects
from .support.open_api import AccessTokenCache, TokenRejected, json_object, with_token
from .support.timestamps import check_window
from .support.cipher import DecryptError, open_cbc
from .support.wecom_crypto import aes_key, decrypt
from .support.wecom_aibot import AiBotSender, hold as hold_aibot_socket, new_req_id, release as release_aibot_socket

__all__ = ["WeComChannel", "WeComConfig", "AiBotSender", "hold_aibot_socket", "new_req_id", "release_aibot_socket"]

log = logging.getLogger(__name__)

TOKEN_CODES = {40014, 41001, 42001}
RATE_LIMIT_CODES = {-1, 45009, 45011, 45033}
_MEDIA = {"image": "image", "voice": "voice", "video": "video", "file": "file"}
AIBOT_URL = "wss://openws.work.weixin.qq.com"
AIBOT_FILE_HOSTS = ("qpic.cn", "weixin.qq.com")     # where the AI bot's files are served
AIBOT_CHAT_TYPES = {"single": DIRECT, "group": GROUP}
_LEADING_MENTION = re.compile(r"^\s*@\S+\s*")
CARD_EVENT = "template_card_event"
TITLE_LIMIT, SUBTITLE_LIMIT, REPLACE_NAME_LIMIT = 26, 112, 64    # characters WeCom shows of each


@dataclass
class WeComConfig(ModeConfig, PlatformStreamingConfig):
    # webhook mode: a self-built app's encrypted XML callbacks
    corp_id: str = setting("", help="the Corp ID (ww...) from My Company > Company Information (webhook mode)")
    # Optional[...], not "int | None": the settings reader converts typing.Union (environment values are text)
    agent_id: Optional[int] = setting(None, minimum=1, help="the app's AgentId (App Management > your app; "
                                                            "webhook mode)")
    secret: str = setting("", secret=True, help="the app's Secret (App Management > your app; webhook mode)")
    token: str = setting("", secret=True, help="the Token from the app's API receive settings (webhook mode)")
    encoding_aes_key: str = setting("", secret=True,
                                    help="the EncodingAESKey (43 characters) from the app's API receive settings "
                                         "(webhook mode)")
    # connect mode: an AI bot (智能机器人) over its long connection
    bot_id: str = setting("", help="the AI bot's Bot ID (AI bot > API mode: long connection; connect mode)")
    bot_secret: str = setting("", secret=True, help="the AI bot's Secret for the long connection (connect mode)")
    aibot_url: str = setting(AIBOT_URL, help="the AI bot long connection's websocket address")
    api_base: str = setting("https://qyapi.weixin.qq.com", url=True)
    tolerance_seconds: float = setting(300.0, minimum=1, help="how far a callback's timestamp may be off")
    connect_timeout: float = setting(3.0, minimum=0.1)
    read_timeout: float = setting(10.0, minimum=0.1)

    def validate(self, path: str) -> None:
        if connects(self):
            _require(self, path, ("bot_id", "bot_secret"), "the AI bot's page in the admin console (API mode: "
                                                           "long connection)")
            if urlsplit(self.aibot_url).scheme not in ("ws", "wss") or not urlsplit(self.aibot_url).netloc:
                raise ConfigError(f"{path}.aibot_url", f"must be a ws:// or wss:// URL, got {self.aibot_url!r}",
                                  f"leave it out for {AIBOT_URL}")
            return
        _require(self, path, ("corp_id", "agent_id", "secret", "token", "encoding_aes_key"),
                 'the app\'s page in the admin console, or use mode = "connect" with an AI bot\'s bot_id and '
                 "bot_secret (no public URL needed)")
        aes_key(self.encoding_aes_key, f"{path}.encoding_aes_key")


def _require(config: WeComConfig, path: str, keys: tuple[str, ...], where: str) -> None:
    for key in keys:
        if getattr(config, key) in ("", None):
            raise ConfigError(f"{path}.{key}", f"is required in {config.mode} mode",
                              f"copy it from {where}")


class WeComChannel(Channel):
    name = "wecom"
    config_class = WeComConfig
    text_limit = 2048
    limit_in_bytes = True
    supports_markdown = True

    def __init__(self, config: WeComConfig) -> None:
        super().__init__(config)
        self._key = aes_key(config.encoding_aes_key, "channels.wecom.encoding_aes_key") if config.encoding_aes_key \
            else b""
        self._http = http.pooled_session()
        self.tokens = AccessTokenCache("wecom", self._fetch_token)

    # -- inbound ---------------------------------------------------------------------------
    def verify(self, req: WebRequest) -> None:
        if not self._key or not self.config.token:      # connect mode: nothing could vouch for a webhook
            raise SignatureError("channels.wecom.token / encoding_aes_key are not set, so no webhook can verify")
        signature, timestamp, nonce = (req.args.get(k, "") for k in ("msg_signature", "timestamp", "nonce"))
        if not signature or not timestamp or not nonce:
            raise SignatureError("missing msg_signature, timestamp or nonce query parameter")
        if req.method == "GET":
            encrypted = req.args.get("echostr", "")
            if not encrypted:
                raise PayloadError("URL verification without echostr")
        else:
            encrypted = _text(_xml(req.body, "body"), "Encrypt")
            if not encrypted:
                raise PayloadError("the XML body has no Encrypt element")
        expected = hashlib.sha1("".join(sorted([self.config.token, timestamp, nonce, encrypted])).encode("utf-8"))
        if not hmac.compare_digest(expected.hexdigest().encode(), signature.strip().lower().encode("utf-8", "replace")):
            raise SignatureError("msg_signature does not match: check channels.wecom.token")
        check_window(timestamp, self.config.tolerance_seconds, "timestamp")
        req.decoded = decrypt(self._key, encrypted, self.config.corp_id)

    def handshake(self, req: WebRequest) -> WebResponse | None:
        if req.method != "GET":
            return None
        return WebResponse(200, req.decoded, "text/plain; charset=utf-8")

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        root = _xml(req.decoded.encode("utf-8"), "decrypted message")
        kind = _text(root, "MsgType")
        if kind == "text":
            text, attachments = _text(root, "Content").strip(), []
        elif kind in _MEDIA:
            attachment = Attachment(_MEDIA[kind], name=_text(root, "FileName"), key=_text(root, "MediaId"))
            recognised = _text(root, "Recognition").strip()     # WeCom's own transcript of a voice message
            text = recognised or attachment.placeholder
            attachments = [] if recognised else [attachment]
        elif kind == "event" and _text(root, "Event") == CARD_EVENT:
            return self._press(root)
        else:               # events (enter_agent, subscribe, ...), locations, links
            return []
        agent = _text(root, "AgentID")
        if agent and agent != str(self.config.agent_id):
            log.warning("wecom message for agent %s, not channels.wecom.agent_id %s; ignored", agent[:20],
                        self.config.agent_id)
            return []
        msg_id, user = _text(root, "MsgId"), _text(root, "FromUserName")
        if not msg_id or not user or len(msg_id) > 100 or len(user) > 200:
            raise PayloadError("the message has no MsgId or FromUserName")
        if not text:
            return []
        return [InboundMessage(channel=self.name, event_id=msg_id, message_id=msg_id, chat_id=user,
                               chat_type=DIRECT, user_id=user, text=text, mentioned=True, attachments=attachments,
                               reply_context={"touser": user}, raw=req.decoded)]

    def _press(self, root: Element) -> list[InboundMessage]:
        """A template card button of ours pressed: keyed on the callback's ResponseCode."""
        data = buttons.valid_data(_text(root, "EventKey"))
        user, code, agent = _text(root, "FromUserName"), _text(root, "ResponseCode"), _text(root, "AgentID")
        if not data or (agent and agent != str(self.config.agent_id)):
            return []
        if not _short_text(user) or not code or len(code) > 400:
            raise PayloadError("the card event has no FromUserName or ResponseCode")
        return [InboundMessage(channel=self.name, event_id=f"press:{code[:200]}", message_id=_text(root, "TaskId")[:128],
                               chat_id=user, chat_type=DIRECT, user_id=user, text=buttons.PRESS_TEXT, mentioned=True,
                               press=data, reply_context={"touser": user, "response_code": code})]

    def acknowledge(self, req: WebRequest, accepted: list[InboundMessage], duplicates: int) -> WebResponse:
        return WebResponse(200, "")

    def parse_aibot(self, body: Any, req_id: str) -> list[InboundMessage]:
        """An AI bot's message callback (JSON over the long connection, not the app's XML): the
        message, [] for kinds that carry nothing to answer, PayloadError when malformed. `req_id`
        is the callback frame's, which a reply names to answer this message."""
        if not isinstance(body, dict):
            raise PayloadError("the callback body is not a JSON object")
        bot = body.get("aibotid")
        if bot and bot != self.config.bot_id:
            raise PayloadError("the callback is for another AI bot than channels.wecom.bot_id")
        chat_type = AIBOT_CHAT_TYPES.get(str(body.get("chattype") or ""))
        sender = body.get("from")
        user = sender.get("userid") if isinstance(sender, dict) else None
        msg_id = body.get("msgid")
        if chat_type is None or not _short_text(msg_id) or not _short_text(user):
            raise PayloadError("the callback lacks msgid, chattype or from.userid")
        chat = body.get("chatid") if chat_type == GROUP else user
        if not _short_text(chat):
            raise PayloadError("a group callback without chatid")
        text, attachments = aibot.content(body)
        if chat_type == GROUP:
            text = _LEADING_MENTION.sub("", text, count=1)    # the @bot that made WeCom send it
        if not text and not attachments:
            return []
        return [InboundMessage(channel=self.name, event_id=msg_id, message_id=msg_id, chat_id=chat,
                               chat_type=chat_type, user_id=user, text=text or attachments[0].placeholder,
                               mentioned=True, attachments=attachments,
                               reply_context={"aibot": True, "req_id": req_id[:200], "chatid": chat}, raw=body)]

    def parse_aibot_event(self, body: Any, req_id: str) -> list[InboundMessage]:
        """An AI bot event callback: a press of one of our card's buttons (keyed on the event's
        msgid; its req_id is what the card update must answer), [] for any other event."""
        if not isinstance(body, dict) or (body.get("aibotid") and body.get("aibotid") != self.config.bot_id):
            return []
        pressed = aibot.press_of(body)
        sender = body.get("from")
        user = sender.get("userid") if isinstance(sender, dict) else None
        if pressed is None or not _short_text(user) or not _short_text(body.get("msgid")):
            return []
        group = body.get("chattype") == "group" and _short_text(body.get("chatid"))
        chat = body["chatid"] if group else user
        data, task = pressed
        return [InboundMessage(channel=self.name, event_id=f"press:{body['msgid']}", message_id=task, chat_id=chat,
                               chat_type=GROUP if group else DIRECT, user_id=user, text=buttons.PRESS_TEXT,
                               mentioned=True, press=data,
                               reply_context={"aibot": True, "chatid": chat, "presser": user, "task_id": task,
                                              "event_req_id": req_id[:200]})]

    # -- outbound --------------------------------------------------------------------------
    def send(self, reply: Reply) -> None:
        if self._by_aibot(reply):
            self._send_by_aibot(reply)
            return
        ctx = reply.reply_context
        if buttons.press_answer(ctx) == buttons.UPDATE:
            update = {"userids": [str(ctx.get("touser") or reply.chat_id)], "agentid": self.config.agent_id,
                      "response_code": str(ctx.get("response_code") or ""),
                      "button": {"replace_name": reply.text.split("\n", 1)[0][:REPLACE_NAME_LIMIT]}}
            with_token(self.tokens, lambda token: self._call("POST", "/cgi-bin/message/update_template_card",
                                                             {"access_token": token}, update))
            return
        kind = "markdown" if reply.format == "markdown" else "text"
        content: dict[str, str] = {"content": reply.text}
        if reply.file:          # uploaded for a media id, then sent as an image or file message
            url = self.config.api_base.rstrip("/") + "/cgi-bin/media/upload"
            kind, content = media_upload.kind_of(reply.file), {"media_id": with_token(
                self.tokens, lambda token: media_upload.upload(self._http, url, token, reply.file,
                                                               reply.file_bytes(), self._timeout, "WeCom"))}
        body: dict[str, Any] = {"touser": str(ctx.get("touser") or reply.chat_id), "msgtype": kind,
                                "agentid": self.config.agent_id, kind: content}
        offered = buttons.buttons_of(ctx)
        if offered:
            del body[kind]
            body.update(msgtype="template_card", template_card=_card(reply, offered))
        data = with_token(self.tokens, lambda token: self._call("POST", "/cgi-bin/message/send",
                                                                {"access_token": token}, body))
        if data.get("invaliduser"):
            raise DeliveryError("WeCom says the recipient is not a member visible to this app", retryable=False)

    def fetch(self, msg: InboundMessage, attachment: Attachment, limits: files.FetchLimits) -> bytes:
        """A self-built app's file by its MediaId: GET /cgi-bin/media/get. An AI bot's file: its URL
        (on WeCom's file hosts only), decrypted with the message's aeskey."""
        if attachment.url:
            return self._aibot_file(attachment, limits)
        if not attachment.key:
            raise MediaRefused("unavailable", "the message names no WeCom media")
        try:
            token = self.tokens.get()
        except DeliveryError as exc:
            raise files.refused(exc) from None
        return files.download(self._http, self.config.api_base.rstrip("/") + "/cgi-bin/media/get", limits,
                              errors_as_json=True, params={"access_token": token, "media_id": attachment.key})

    def _aibot_file(self, attachment: Attachment, limits: files.FetchLimits) -> bytes:
        """AES-256-CBC with the aeskey (base64) as key and its first 16 bytes as IV, PKCS#7 padded
        to 32-byte blocks, as WeCom's AI bot encrypts the files it hands over."""
        if not files.on_hosts(attachment.url, AIBOT_FILE_HOSTS, self.config.api_base):
            raise MediaRefused("unavailable", "the file's address is not on WeCom's file hosts")
        try:
            key = base64.b64decode(attachment.key + "=" * (-len(attachment.key) % 4), validate=True)
        except (binascii.Error, ValueError):
            key = b""
        if len(key) != 32:
            raise MediaRefused("unavailable", "the message carries no usable aeskey for its file")
        sealed = files.download(self._http, attachment.url, files.FetchLimits(limits.max_bytes + 32, limits.timeout))
        try:
            data, padded = open_cbc(key, key[:16], sealed, pad_block=32)
        except DecryptError:
            padded = False
        if not padded:
            raise MediaRefused("unavailable", "the file does not decrypt with its aeskey")
        if len(data) > limits.max_bytes:
            raise files.too_large(limits.max_bytes)
        return data

    def close(self) -> None:
        self._http.close()

    def sends_here(self, reply: Reply) -> bool:
        return not self._by_aibot(reply) or self.holds_reply_connection()

    def holds_reply_connection(self) -> bool:
        return aibot.sender_of(self.name) is not None

    def _by_aibot(self, reply: Reply) -> bool:
        """Whether a reply goes over the AI bot's connection: an answer to its message, or anything
        at all in connect mode (an approvers' notice to wecom:<chatid> has no message behind it)."""
        return bool(reply.reply_context.get("aibot")) or connects(self.config)

    # -- replies shown while written: the AI bot's stream reply, the same id until `finish` ----
    def can_preview(self, reply: Reply) -> bool:
        return bool(reply.reply_context.get("aibot") and reply.reply_context.get("req_id")) and self.sends_here(reply)

    def start_preview(self, reply: Reply) -> str:
        self.update_preview(reply, reply.delivery_id)
        return reply.delivery_id

    def update_preview(self, reply: Reply, handle: str) -> None:
        sender = aibot.sender_of(self.name)
        if sender is None:
            raise DeliveryError("the WeCom AI bot connection is not held by this process", retryable=False)
        answer = sender(aibot.stream_frame(reply, handle, finish=False))
        code = answer.get("errcode")
        if code != 0:
            raise DeliveryError(f"WeCom refused the streamed reply (errcode {code})", retryable=code in RATE_LIMIT_CODES)

    def finish_preview(self, reply: Reply, handle: str) -> None:
        self._send_by_aibot(reply)      # the final frame of the same stream id (the reply's delivery id)

    def _send_by_aibot(self, reply: Reply) -> None:
        """Over the AI bot's long connection, which the process holding it sends for us: as the
        answer to the callback (aibot_respond_msg with its req_id), else, or when WeCom refuses
        that (the callback is too old), pushed to the chat (aibot_send_msg)."""
        sender = aibot.sender_of(self.name)
        if sender is None:
            raise DeliveryError("the WeCom AI bot connection is not held by this process", retryable=True)
        ctx = reply.reply_context
        chat, answered = str(ctx.get("chatid") or reply.chat_id), buttons.press_answer(ctx)
        if reply.file:                          # uploaded over the connection, pushed as image / file
            aibot_media.send_file(sender, chat, reply, new_req_id, RATE_LIMIT_CODES)
            return
        if answered == buttons.UPDATE:          # the pressed card, for everyone in the chat
            answer = sender(aibot.decided_frame(reply))
            if answer.get("errcode") == 0:
                return
            log.info("wecom AI bot: the card update was refused (errcode %s); pushing the decision to the chat",
                     answer.get("errcode"))
        elif answered == buttons.PRIVATE:       # the presser's own chat with the bot
            chat = str(ctx.get("presser") or chat)
        elif ctx.get("req_id"):
            answer = sender(aibot.stream_frame(reply, reply.delivery_id or new_req_id("stream"), finish=True))
            if answer.get("errcode") == 0:
                return
            log.info("wecom AI bot: the answer to the callback was refused (errcode %s); pushing it to the chat",
                     answer.get("errcode"))
        offered = buttons.buttons_of(ctx)
        answer = sender(aibot.push_frame(chat, aibot.button_card(reply, offered) if offered else
                                         {"msgtype": "markdown", "markdown": {"content": reply.text}}))
        code = answer.get("errcode")
        if code != 0:
            raise DeliveryError(f"WeCom refused the AI bot's message (errcode {code}: "
                                f"{str(answer.get('errmsg') or '')[:120]})", retryable=code in RATE_LIMIT_CODES)

    def _call(self, method: str, path: str, params: dict[str, str], body: Any = None) -> dict[str, Any]:
        resp = http.request(self._http, method, self.config.api_base.rstrip("/") + path, params=params, json=body,
                            timeout=(self.config.connect_timeout, self.config.read_timeout))
        data = json_object(resp, "WeCom")
        code = data.get("errcode", 0)
        if code == 0:
            return data
        if code in TOKEN_CODES:
            raise TokenRejected(f"WeCom rejected the access token (errcode {code})")
        if code in RATE_LIMIT_CODES:
            raise DeliveryError(f"WeCom is rate limiting or busy (errcode {code})", retryable=True)
        raise DeliveryError(f"WeCom refused the call (errcode {code}: {str(data.get('errmsg') or '')[:120]})",
                            retryable=False)

    @property
    def _timeout(self) -> tuple[float, float]:
        return (self.config.connect_timeout, self.config.read_timeout)

    def _fetch_token(self) -> tuple[str, float]:
        try:
            data = self._call("GET", "/cgi-bin/gettoken", {"corpid": self.config.corp_id,
                                                           "corpsecret": self.config.secret})
        except DeliveryError as exc:
            if exc.retryable and not isinstance(exc, TokenRejected):
                raise
            raise DeliveryError(f"WeCom refused channels.wecom.corp_id / secret ({exc.reason}); copy them from "
                                "the admin console (errcode 60020 means this server's IP is not trusted)",
                                retryable=False) from None
        try:
            return str(data.get("access_token") or ""), float(data.get("expires_in") or 0)
        except (TypeError, ValueError):
            raise DeliveryError("WeCom answered a token without a valid expires_in", retryable=True) from None


def _card(reply: Reply, offered: list[dict[str, Any]]) -> dict[str, Any]:
    """A button_interaction template card: the text, and one button per decision."""
    title = reply.text.split(":", 1)[0]
    return {"card_type": "button_interaction", "main_title": {"title": title[:TITLE_LIMIT]},
            "sub_title_text": reply.text[:SUBTITLE_LIMIT], "task_id": (reply.delivery_id or new_req_id("card"))[:128],
            "button_list": [{"text": b["label"][:10], "style": 1 if b["approve"] else 2, "key": b["data"]}
                            for b in offered]}


def _short_text(value: Any) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 200


def _xml(data: bytes, what: str) -> Element:
    """Parse XML refusing DTDs, entities and external references (defusedxml), or PayloadError."""
    try:
        return fromstring(data, forbid_dtd=True)
    except DefusedXmlException as exc:
        raise PayloadError(f"the {what} uses forbidden XML ({type(exc).__name__})") from None
    except (ParseError, ValueError, TypeError):
        raise PayloadError(f"the {what} is not well-formed XML") from None


def _text(root: Element, tag: str) -> str:
    child = root.find(tag)
    return (child.text or "") if child is not None else ""
