"""Feishu / Lark: event subscription (schema 2.0) in, IM messages out with a tenant access token.

Inbound, with an encrypt_key configured: a signed request (X-Lark-Signature = hex SHA-256 of
timestamp + nonce + encrypt_key + raw body) is authenticated before anything is parsed or
decrypted. Only the console's URL check comes unsigned (Feishu's SDKs answer it before any
signature check), so an unsigned body is decrypted only to see whether it is that check, and is
refused otherwise. Decryption (key = SHA-256(encrypt_key), IV = first 16 bytes, AES-256-CBC) and
the verification token inside then either succeed or fail with one and the same answer, whatever
went wrong: different answers for bad padding, bad JSON or a wrong token would be a padding
oracle that reads a captured event byte by byte. Plain bodies are refused. Without an encrypt_key,
events are plain and checked by the verification token only.
The URL check is answered with its challenge; im.message.receive_v1 becomes an InboundMessage
keyed on message_id (Feishu re-pushes and replays history under new event ids); every other event
is acknowledged and ignored.
Outbound: a reply to the message (POST /open-apis/im/v1/messages/<id>/reply) carrying the reply's
delivery id as Feishu's `uuid`, so a retried send is not shown twice; files are uploaded first
(im/v1/images, im/v1/files). A reply shown while written is a CardKit streaming card
(support/feishu_cards.py), or where CardKit is refused a card updated by PATCH.
Buttons: a reply offering decision buttons is an interactive card (a text block and an action block
of buttons whose value carries the press's data, `update_multi` so every viewer sees an update). A
press is the `card.action.trigger` event (the same subscription, signed and encrypted like every
event), keyed on its event id and acknowledged with an empty answer; the worker then replaces the
card (PATCH /open-apis/im/v1/messages/<id>) with the decision, or sends a refusal as an ephemeral
card only the presser sees (POST /open-apis/ephemeral/v1/send).
Never logs or returns a token, the app secret, the encrypt key or what a refused body decrypted to.
"""
from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import json
import logging
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import requests

from ..errors import ConfigError, DeliveryError, MediaRefused, PayloadError, SignatureError
from ..httputil import retry_after_seconds
from ..messages import DIRECT, GROUP, Attachment, InboundMessage, Reply
from ..settings.schema import setting
from .support import buttons, files, http
from .support.common import optional_object
from .base import Channel, ModeConfig, PlatformStreamingConfig, WebRequest, WebResponse, connects, load_json
from .support.cipher import AES_BLOCK, DecryptError, open_cbc
from .support.feishu_cards import BUTTON_VALUE, StreamingCards, card as _card, is_card_handle
from .support.feishu_content import read_content, resolve_mentions
from .support.groups import addressed, group_trigger_setting
from .support.open_api import AccessTokenCache, TokenRejected, json_object, with_token
from .support.timestamps import check_window

log = logging.getLogger(__name__)

URL_VERIFICATION = "url_verification"
MESSAGE_EVENT = "im.message.receive_v1"
CARD_ACTION_EVENT = "card.action.trigger"
TIMESTAMP_HEADER = "X-Lark-Request-Timestamp"
NONCE_HEADER = "X-Lark-Request-Nonce"
SIGNATURE_HEADER = "X-Lark-Signature"
TOKEN_PATH = "/open-apis/auth/v3/tenant_access_token/internal"
# Codes from Feishu's server error code list: a token that is invalid or expired, and rate limits.
TOKEN_CODES = {99991661, 99991663, 99991664, 99991671}
RATE_LIMIT_CODES = {99991400, 230020}
CARDKIT_RETRY = 600.0       # seconds before a process tries CardKit again after Feishu refused it
# The one answer to every encrypted body that fails after the signature check (or that has none
# and is not the console's URL check): it names what to check, never which step failed.
UNVERIFIED = (f"the request did not verify: events must carry a valid {SIGNATURE_HEADER}, decrypt with "
              "channels.feishu.encrypt_key and carry channels.feishu.verification_token (copy both from "
              "Events & Callbacks > Encryption strategy)")


@dataclass
class FeishuConfig(ModeConfig, PlatformStreamingConfig):
    app_id: str = setting(required=True, help="the App ID (cli_...) from the app's Credentials page")
    app_secret: str = setting(required=True, secret=True, help="the App Secret from the app's Credentials page")
    verification_token: str = setting("", secret=True,
                                      help="the Verification Token from Events & Callbacks > Encryption strategy "
                                           "(webhook mode; the long connection needs none)")
    encrypt_key: str = setting("", secret=True, help="the Encrypt Key from Events & Callbacks > Encryption strategy")
    bot_open_id: str = setting("", help="the bot's open_id: a group message mentioning it is addressed to the bot")
    bot_name: str = setting("", help="the bot's name, used when bot_open_id is not set")
    group_trigger: str = group_trigger_setting()
    api_base: str = setting("https://open.feishu.cn", url=True, help="https://open.larksuite.com for Lark")
    max_event_age: float = setting(43200.0, minimum=60,
                                   help="seconds; older events are refused (Feishu re-pushes for up to 6 hours)")
    connect_timeout: float = setting(3.0, minimum=0.1)
    read_timeout: float = setting(10.0, minimum=0.1)
    cardkit: bool = setting(True, help="stream replies into a CardKit streaming card (scope cardkit:card:write); "
                                       "false, or when Feishu refuses it: a card updated by PATCH")

    def validate(self, path: str) -> None:
        if connects(self):      # the long connection needs app_id and app_secret only
            return
        if not self.verification_token:
            raise ConfigError(f"{path}.verification_token", "is required in webhook mode",
                              "copy the Verification Token from Events & Callbacks > Encryption strategy, or "
                              'use mode = "connect" (the long connection, no public URL needed)')
        if not self.encrypt_key:
            log.warning("%s.encrypt_key is not set: events arrive unencrypted and unsigned, checked only by the "
                        "verification token; set an Encrypt Key in the console and here", path)

    def self_check(self) -> str:
        if not self.bot_open_id and not self.bot_name:
            return ("neither bot_open_id nor bot_name is set, so in groups a mention of anyone counts as "
                    "addressed to the bot; set one of them")
        return ""


class FeishuChannel(Channel):
    name = "feishu"
    config_class = FeishuConfig
    text_limit = 4000
    supports_markdown = True

    def __init__(self, config: FeishuConfig) -> None:
        super().__init__(config)
        self._http = http.pooled_session()
        self._aes_key = hashlib.sha256(config.encrypt_key.encode("utf-8")).digest() if config.encrypt_key else b""
        self.tokens = AccessTokenCache("feishu", self._fetch_token)
        self.cards = StreamingCards(self._api)
        self._cardkit_refused_until = 0.0

    # -- inbound ---------------------------------------------------------------------------
    def verify(self, req: WebRequest) -> None:
        if not self.config.verification_token:      # connect mode: nothing could vouch for a webhook
            raise SignatureError("channels.feishu.verification_token is not set, so no webhook can verify")
        if self.config.encrypt_key:
            payload = self._open_encrypted(req)
        else:
            payload = req.json()
            if not isinstance(payload, dict):
                raise PayloadError("body must be a JSON object")
            if "encrypt" in payload:
                raise SignatureError("the body is encrypted but channels.feishu.encrypt_key is not set: copy the "
                                     "Encrypt Key from Events & Callbacks > Encryption strategy")
            if not self._token_matches(payload):
                raise SignatureError("verification token does not match channels.feishu.verification_token")
        self._check_age(payload)
        req.decoded = payload

    def handshake(self, req: WebRequest) -> WebResponse | None:
        payload = req.decoded or {}
        if payload.get("type") != URL_VERIFICATION:
            return None
        challenge = payload.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise PayloadError("url_verification without a challenge")
        return WebResponse(200, {"challenge": challenge})

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        payload = req.decoded or {}
        header = payload.get("header")
        if payload.get("schema") != "2.0" or not isinstance(header, dict):
            return []
        if header.get("event_type") == CARD_ACTION_EVENT:
            return self._press(header, _table(payload, "event"))
        if header.get("event_type") != MESSAGE_EVENT:
            return []
        event = _table(payload, "event")
        sender, message = _table(event, "sender"), _table(event, "message")
        if sender.get("sender_type") != "user":      # the bot's own messages, other apps
            return []
        message_id = _required_text(message, "message_id")
        chat_id = _required_text(message, "chat_id")
        ids = _table(sender, "sender_id")
        user_id = str(ids.get("open_id") or ids.get("user_id") or ids.get("union_id") or "")
        if not user_id:
            raise PayloadError("event.sender.sender_id has no open_id")
        text, attachments = read_content(message.get("message_type"), message.get("content"))
        text, mentioned = resolve_mentions(text, message.get("mentions"), self.config.bot_open_id,
                                           self.config.bot_name)
        if not text and not attachments:
            return []
        chat_type = DIRECT if message.get("chat_type") == "p2p" else GROUP
        context = {"message_id": message_id, "chat_id": chat_id}
        if message.get("thread_id"):
            context["thread_id"] = str(message["thread_id"])
        return [InboundMessage(
            channel=self.name, event_id=message_id, message_id=message_id, chat_id=chat_id,
            chat_type=chat_type, user_id=user_id, text=text or " ".join(a.placeholder for a in attachments),
            mentioned=addressed(chat_type, mentioned, self.config.group_trigger), attachments=attachments,
            reply_context=context, raw=payload)]

    def _press(self, header: dict[str, Any], event: dict[str, Any]) -> list[InboundMessage]:
        """A card button of ours pressed: keyed on the event id, answered by the worker."""
        value = optional_object(optional_object(event, "action"), "value")
        data = buttons.valid_data(value.get(BUTTON_VALUE))
        if not data:
            return []
        operator, context = optional_object(event, "operator"), optional_object(event, "context")
        user_id = str(operator.get("open_id") or operator.get("user_id") or "")
        message_id = str(context.get("open_message_id") or "")
        chat_id = str(context.get("open_chat_id") or "")
        if not user_id or not message_id or not chat_id or len(message_id) > 200 or len(chat_id) > 200:
            raise PayloadError("a card action without operator.open_id, context.open_message_id or open_chat_id")
        event_id = _required_text(header, "event_id")
        return [InboundMessage(
            channel=self.name, event_id=f"press:{event_id}", message_id=message_id, chat_id=chat_id,
            chat_type=GROUP, user_id=user_id[:200], text=buttons.PRESS_TEXT, mentioned=True, press=data,
            reply_context={"pressed_message_id": message_id, "chat_id": chat_id, "presser": user_id[:200]})]

    def acknowledge(self, req: WebRequest, accepted: list[InboundMessage], duplicates: int) -> WebResponse:
        header = (req.decoded or {}).get("header")
        if isinstance(header, dict) and header.get("event_type") == CARD_ACTION_EVENT:
            return WebResponse(200, {})     # the card is left as it is: the worker updates it
        return super().acknowledge(req, accepted, duplicates)

    def _open_encrypted(self, req: WebRequest) -> dict[str, Any]:
        """The decrypted payload of an encrypted request, authenticated before it is decrypted."""
        signed = self._check_signature(req)
        data = req.json()
        if not isinstance(data, dict):
            raise PayloadError("body must be a JSON object")
        if "encrypt" not in data:
            raise SignatureError("expected an encrypted body because channels.feishu.encrypt_key is set")
        payload, problem = self._decrypt(data["encrypt"])
        if not problem and not self._token_matches(payload):
            problem = "the verification token inside does not match"
        if not problem and not signed and payload.get("type") != URL_VERIFICATION:
            problem = "unsigned, and not the console's URL check"
        if problem:
            if signed:      # only a holder of the encrypt key gets here: worth telling the operator
                log.warning("feishu: a signed request was refused: %s", problem)
            raise SignatureError(UNVERIFIED)
        return payload

    def _check_signature(self, req: WebRequest) -> bool:
        """True when the request is signed correctly, False when unsigned; SignatureError otherwise."""
        values = [req.headers.get(h, "") for h in (TIMESTAMP_HEADER, NONCE_HEADER, SIGNATURE_HEADER)]
        if not any(values):
            return False
        timestamp, nonce, signature = values
        if not all(values):
            raise SignatureError(f"incomplete {TIMESTAMP_HEADER} / {NONCE_HEADER} / {SIGNATURE_HEADER} headers")
        expected = hashlib.sha256((timestamp + nonce + self.config.encrypt_key).encode("utf-8") + req.body)
        if not hmac.compare_digest(expected.hexdigest().encode(), signature.strip().lower().encode("utf-8", "replace")):
            raise SignatureError(f"{SIGNATURE_HEADER} does not match: check channels.feishu.encrypt_key")
        check_window(timestamp, self.config.max_event_age, TIMESTAMP_HEADER)
        return True

    def _decrypt(self, blob: Any) -> tuple[dict[str, Any], str]:
        """(payload, "") or ({}, what went wrong). Bad padding does not end the work early: the
        data is parsed all the same and the verdicts are combined at the end."""
        try:
            raw = base64.b64decode(blob, validate=True) if isinstance(blob, str) else b""
            plain, padded_well = open_cbc(self._aes_key, raw[:AES_BLOCK], raw[AES_BLOCK:])
        except (binascii.Error, ValueError, DecryptError):
            return {}, "encrypt is not base64 of an IV and whole AES blocks"
        try:
            payload = load_json(plain, "decrypted body")
        except (PayloadError, ValueError, RecursionError):
            payload = None
        if not padded_well:
            return {}, "the padding is wrong (a different encrypt key?)"
        if not isinstance(payload, dict):
            return {}, "the decrypted body is not a JSON object"
        return payload, ""

    def _token_matches(self, payload: dict[str, Any]) -> bool:
        header = payload.get("header")
        if payload.get("type") != URL_VERIFICATION and isinstance(header, dict):
            token = header.get("token")          # schema 2.0 events
        else:
            token = payload.get("token")         # the URL check and schema 1.0 events
        expected = self.config.verification_token.encode("utf-8")
        return isinstance(token, str) and hmac.compare_digest(token.encode("utf-8", "replace"), expected)

    def _check_age(self, payload: dict[str, Any]) -> None:
        header = payload.get("header")
        created = header.get("create_time") if isinstance(header, dict) else None
        if created is not None:     # Feishu keeps it on re-pushes: it bounds how old a replay can be
            check_window(created, self.config.max_event_age, "header.create_time (channels.feishu.max_event_age)",
                         per_second=1000)

    # -- outbound --------------------------------------------------------------------------
    def send(self, reply: Reply) -> None:
        answer = buttons.press_answer(reply.reply_context)
        if answer:
            self._answer_press(reply, answer)
            return
        if reply.file:
            self._send_file(reply)
            return
        offered = buttons.buttons_of(reply.reply_context)
        if offered:
            msg_type, content = "interactive", _card(reply.text, offered)
        elif reply.format == "markdown":
            msg_type, content = "post", {"zh_cn": {"content": [[{"tag": "md", "text": reply.text}]]}}
        else:
            msg_type, content = "text", {"text": reply.text}
        self._create(reply, msg_type, content, reply.delivery_id)

    def _send_file(self, reply: Reply) -> None:
        """An image uploaded to im/v1/images and sent as msg_type image, any other file to im/v1/files
        as msg_type file. A retried send uploads again; the message carries the reply's uuid."""
        name, mime = reply.file.get("name") or "file", reply.file.get("mime") or "application/octet-stream"
        kind = "image" if mime.startswith("image/") else "file"
        fields = {"image_type": "message"} if kind == "image" else \
            {"file_type": "pdf" if mime == "application/pdf" else "stream", "file_name": name}
        key = self._api("POST", f"/open-apis/im/v1/{kind}s", form=(fields, {kind: (name, reply.file_bytes(), mime)}))
        if not isinstance(key.get(f"{kind}_key"), str) or not key[f"{kind}_key"]:
            raise DeliveryError(f"Feishu answered the upload without its {kind}_key", retryable=False)
        self._create(reply, kind, {f"{kind}_key": key[f"{kind}_key"]}, reply.delivery_id)

    # -- replies shown while written: a streaming card, else a card updated by PATCH ---------------
    def can_preview(self, reply: Reply) -> bool:
        return True

    def start_preview(self, reply: Reply) -> str:
        # Its own uuid: a retried start is not shown twice, and it is not the final reply's.
        uuid = f"preview-{reply.delivery_id}"
        if self.config.cardkit and time.monotonic() >= self._cardkit_refused_until:
            try:
                handle = self.cards.create(reply.text)
            except DeliveryError as exc:
                if exc.retryable:
                    raise
                log.warning("feishu: CardKit refused a streaming card (%s); replies are shown by updating a card "
                            "instead (grant the app cardkit:card:write to stream)", exc.reason)
                self._cardkit_refused_until = time.monotonic() + CARDKIT_RETRY
            else:
                self._create(reply, "interactive", self.cards.message_content(handle), uuid)
                return handle
        message_id = self._create(reply, "interactive", _card(reply.text, markdown=True), uuid).get("message_id")
        if not isinstance(message_id, str) or not message_id:
            raise DeliveryError("Feishu answered the preview card without a message_id", retryable=False)
        return message_id

    def update_preview(self, reply: Reply, handle: str) -> None:
        if is_card_handle(handle):
            self.cards.write(handle, reply.text)
            return
        body = {"content": json.dumps(_card(reply.text, markdown=True), ensure_ascii=False)}
        self._api("PATCH", f"/open-apis/im/v1/messages/{quote(handle, safe='')}", body)

    def finish_preview(self, reply: Reply, handle: str) -> None:
        if is_card_handle(handle):
            self.cards.finish(handle, reply.text, reply.delivery_id)
        else:
            self.update_preview(reply, handle)

    def _api(self, method: str, path: str, body: dict[str, Any] | None = None, params: dict[str, str] | None = None,
             form: tuple[dict[str, str], dict[str, Any]] | None = None) -> dict[str, Any]:
        """One call with the tenant token (JSON `body`, or `form` fields and files); the answer's `data`."""
        answer = with_token(self.tokens, lambda token: self._post(self._base + path, body or {}, params,
                                                                  {"Authorization": f"Bearer {token}"}, method, form))
        return answer.get("data") if isinstance(answer.get("data"), dict) else {}

    def _create(self, reply: Reply, msg_type: str, content: dict[str, Any], uuid: str) -> dict[str, Any]:
        body: dict[str, Any] = {"msg_type": msg_type, "content": json.dumps(content, ensure_ascii=False)}
        if uuid:
            body["uuid"] = uuid[:50]
        message_id = str(reply.reply_context.get("message_id") or "")
        if not message_id:
            body["receive_id"] = reply.chat_id
            return self._api("POST", "/open-apis/im/v1/messages", body, {"receive_id_type": "chat_id"})
        if reply.reply_context.get("thread_id"):
            body["reply_in_thread"] = True
        return self._api("POST", f"/open-apis/im/v1/messages/{quote(message_id, safe='')}/reply", body)

    def _answer_press(self, reply: Reply, answer: str) -> None:
        """The pressed card shows the decision (buttons gone), or the presser alone sees a refusal."""
        ctx = reply.reply_context
        card = _card(reply.text, [])
        if answer == buttons.UPDATE:
            self._api("PATCH", f"/open-apis/im/v1/messages/{quote(str(ctx.get('pressed_message_id') or ''), safe='')}",
                      {"content": json.dumps(card, ensure_ascii=False)})
        else:
            self._api("POST", "/open-apis/ephemeral/v1/send", {
                "chat_id": str(ctx.get("chat_id") or reply.chat_id), "open_id": str(ctx.get("presser") or ""),
                "msg_type": "interactive", "card": card})

    def fetch(self, msg: InboundMessage, attachment: Attachment, limits: files.FetchLimits) -> bytes:
        """The message resource API: GET /open-apis/im/v1/messages/{message_id}/resources/{key}."""
        if not attachment.key or not msg.message_id:
            raise MediaRefused("unavailable", "the message names no Feishu file")
        url = (f"{self._base}/open-apis/im/v1/messages/{quote(msg.message_id, safe='')}/resources/"
               f"{quote(attachment.key, safe='')}")
        kind = "image" if attachment.kind == "image" else "file"
        try:
            token = self.tokens.get()
        except DeliveryError as exc:
            raise files.refused(exc) from None
        return files.download(self._http, url, limits, errors_as_json=True, params={"type": kind},
                              headers={"Authorization": f"Bearer {token}"})

    def close(self) -> None:
        self._http.close()

    @property
    def _base(self) -> str:
        return self.config.api_base.rstrip("/")

    def _post(self, url: str, body: dict[str, Any], params: dict[str, str] | None, headers: dict[str, str],
              method: str = "POST", form: tuple[dict[str, str], dict[str, Any]] | None = None) -> dict[str, Any]:
        sending = {"data": form[0], "files": form[1]} if form else {"json": body}
        resp = http.request(self._http, method, url, params=params, headers=headers, **sending,
                            timeout=(self.config.connect_timeout, self.config.read_timeout), answer_client_errors=True)
        data = json_object(resp, "Feishu")
        code = data.get("code")
        if code == 0:
            return data
        if code in TOKEN_CODES:
            raise TokenRejected(f"Feishu rejected the tenant access token (code {code})")
        raise _error(code, data, resp)

    def _fetch_token(self) -> tuple[str, float]:
        try:
            data = self._post(self._base + TOKEN_PATH, {"app_id": self.config.app_id,
                                                        "app_secret": self.config.app_secret}, None, {})
        except TokenRejected as exc:
            raise DeliveryError(exc.reason, retryable=False) from None
        except DeliveryError as exc:
            if exc.retryable:
                raise
            raise DeliveryError(f"Feishu refused channels.feishu.app_id / app_secret ({exc.reason}); copy both "
                                "from the app's Credentials page", retryable=False) from None
        try:
            return str(data.get("tenant_access_token") or ""), float(data.get("expire") or 0)
        except (TypeError, ValueError):
            raise DeliveryError("Feishu answered a token without a valid expire", retryable=True) from None


def _error(code: Any, data: dict[str, Any], resp: requests.Response) -> DeliveryError:
    """A DeliveryError for a Feishu answer with code != 0: rate limits retry after Feishu's hint."""
    if code in RATE_LIMIT_CODES or resp.status_code == 429:
        wait = resp.headers.get("x-ogw-ratelimit-reset") or resp.headers.get("Retry-After")
        return DeliveryError(f"Feishu is rate limiting (code {code})", retryable=True,
                             retry_after=retry_after_seconds(wait))
    return DeliveryError(f"Feishu refused the call (code {code}: {str(data.get('msg') or '')[:200]})",
                         retryable=False)


def _table(data: dict[str, Any], key: str) -> dict[str, Any]:
    value = data.get(key)
    if not isinstance(value, dict):
        raise PayloadError(f"missing object: {key}")
    return value


def _required_text(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise PayloadError(f"missing field: message.{key}")
    return value
