"""WeCom (企业微信) self-built app: encrypted XML callbacks in, message/send with an access token out.

Inbound: query msg_signature, timestamp, nonce; the signature is the hex SHA-1 of the sorted
[token, timestamp, nonce, encrypted]. GET (the console's URL check) carries `echostr`: verified,
decrypted and answered as plain text. POST carries XML whose Encrypt element decrypts (see
`wecom_crypto`) to the message XML. XML is parsed only with defusedxml and any DTD is refused,
so entity expansion and external entities never run. Text and media messages are keyed on MsgId;
events (enter_agent, ...) are acknowledged and ignored. App messages are always direct.
Outbound: POST /cgi-bin/message/send?access_token=... The token rides in the URL, so no URL of
this module is ever logged or put in an error; content is split to 2048 bytes.
"""
from __future__ import annotations

import hashlib
import hmac
import logging
from dataclasses import dataclass
from typing import Any
from xml.etree.ElementTree import Element, ParseError

from defusedxml import DefusedXmlException
from defusedxml.ElementTree import fromstring

from ..errors import DeliveryError, PayloadError, SignatureError
from ..messages import DIRECT, Attachment, InboundMessage, Reply
from ..settings.schema import setting
from .support import http
from .base import Channel, ModeConfig, WebRequest, WebResponse
from .support.open_api import AccessTokenCache, TokenRejected, json_object, with_token
from .support.timestamps import check_window
from .support.wecom_crypto import aes_key, decrypt

log = logging.getLogger(__name__)

TOKEN_CODES = {40014, 41001, 42001}
RATE_LIMIT_CODES = {-1, 45009, 45011, 45033}
_MEDIA = {"image": "image", "voice": "audio", "video": "video", "file": "file"}


@dataclass
class WeComConfig(ModeConfig):
    corp_id: str = setting(required=True, help="the Corp ID (ww...) from My Company > Company Information")
    agent_id: int = setting(required=True, minimum=1, help="the app's AgentId (App Management > your app)")
    secret: str = setting(required=True, secret=True, help="the app's Secret (App Management > your app)")
    token: str = setting(required=True, secret=True, help="the Token from the app's API receive settings")
    encoding_aes_key: str = setting(required=True, secret=True,
                                    help="the EncodingAESKey (43 characters) from the app's API receive settings")
    api_base: str = setting("https://qyapi.weixin.qq.com", url=True)
    tolerance_seconds: float = setting(300.0, minimum=1, help="how far a callback's timestamp may be off")
    connect_timeout: float = setting(3.0, minimum=0.1)
    read_timeout: float = setting(10.0, minimum=0.1)

    def validate(self, path: str) -> None:
        aes_key(self.encoding_aes_key, f"{path}.encoding_aes_key")


class WeComChannel(Channel):
    name = "wecom"
    config_class = WeComConfig
    text_limit = 2048
    limit_in_bytes = True
    supports_markdown = True

    def __init__(self, config: WeComConfig) -> None:
        super().__init__(config)
        self._key = aes_key(config.encoding_aes_key, "channels.wecom.encoding_aes_key")
        self._http = http.pooled_session()
        self.tokens = AccessTokenCache("wecom", self._fetch_token)

    # -- inbound ---------------------------------------------------------------------------
    def verify(self, req: WebRequest) -> None:
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
            attachment = Attachment(_MEDIA[kind], name=_text(root, "FileName"), url=_text(root, "PicUrl"),
                                    key=_text(root, "MediaId"))
            text = _text(root, "Recognition").strip() or attachment.placeholder
            attachments = [attachment]
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

    def acknowledge(self, req: WebRequest, accepted: list[InboundMessage], duplicates: int) -> WebResponse:
        return WebResponse(200, "")

    # -- outbound --------------------------------------------------------------------------
    def send(self, reply: Reply) -> None:
        kind = "markdown" if reply.format == "markdown" else "text"
        body = {"touser": str(reply.reply_context.get("touser") or reply.chat_id), "msgtype": kind,
                "agentid": self.config.agent_id, kind: {"content": reply.text}}
        data = with_token(self.tokens, lambda token: self._call("POST", "/cgi-bin/message/send",
                                                                {"access_token": token}, body))
        if data.get("invaliduser"):
            raise DeliveryError("WeCom says the recipient is not a member visible to this app", retryable=False)

    def close(self) -> None:
        self._http.close()

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
