"""Telegram (Bot API, webhook mode): updates in, sendMessage out.

A reply is shown while it is written (`stream`): as a draft (sendMessageDraft) in private chats,
elsewhere as a message edited (editMessageText); "typing" (sendChatAction) shows until then.

Authenticity is the `X-Telegram-Bot-Api-Secret-Token` header set with setWebhook(secret_token=...),
compared in constant time. Only `message` updates from people are messages; edits, channel posts,
member changes and bots' messages are acknowledged and ignored. The dedup key is
`<chat id>:<message id>`, which stays the same when Telegram replays an update under a new update_id.
A `callback_query` (an inline button of ours pressed) is a press, keyed on the query's id; its
answer is answerCallbackQuery (an alert for a refusal) and, for a decision, editMessageText.
The bot token is part of every API URL, so it must never reach a log line or an error reason.

Whether a group message mentions this bot, or a `/command@name` is for it, depends on the bot's
username: `bot_username` when configured, else learned with getMe. getMe is never called while
Telegram waits for the webhook's answer: until the name is known, `parse` leaves that decision to
the worker, whose `settle` asks getMe (once per process; again a minute after a failure).
"""
from __future__ import annotations

import dataclasses
import hashlib
import hmac
import json
import logging
import re
import threading
import time
from dataclasses import dataclass
from typing import Any

from ..errors import ConfigError, DeliveryError, MediaRefused, PayloadError, SignatureError
from ..httputil import retry_after_seconds
from ..messages import DIRECT, GROUP, Attachment, InboundMessage, Reply
from ..settings.schema import setting
from .support import buttons, files, http, markup
from .base import WEBHOOK, PlatformStreamingConfig, WebRequest
from .support.telegram_mentions import NameNeeded, addressing, addressing_entities
from .support.common import (PlatformChannel, PlatformConfig, display_name, group_trigger_setting, json_object, need_id,
                     need_object, optional_object, optional_text, text_field)

log = logging.getLogger(__name__)

SECRET_HEADER = "X-Telegram-Bot-Api-Secret-Token"
_TOKEN_FORMAT = re.compile(r"^(\d+):[A-Za-z0-9_-]{20,}$")
_SECRET_FORMAT = re.compile(r"^[A-Za-z0-9_-]{1,256}$")
MIN_SECRET_LENGTH = 16
_CHAT_TYPES = {"private": DIRECT, "group": GROUP, "supergroup": GROUP}
# Attachment fields of a Message and the kind each one is; `photo` is a list of sizes.
_MEDIA = (("photo", "image"), ("document", "file"), ("audio", "audio"), ("voice", "voice"),
          ("video", "video"), ("video_note", "video"), ("animation", "video"))
_USERNAME_RETRY_SECONDS = 60.0
CALLBACK_TEXT_LIMIT = 200       # answerCallbackQuery's text


@dataclass
class TelegramConfig(PlatformConfig, PlatformStreamingConfig):
    bot_token: str = setting(required=True, secret=True, help="the token @BotFather gave you (123456:ABC...)")
    secret_token: str = setting("", secret=True,
                                help="the secret_token you passed to setWebhook (1-256 of A-Z a-z 0-9 _ -); "
                                     "required in webhook mode")
    webhook_url: str = setting("", url=True,
                               help="this server's public /webhooks/telegram URL: given, SmartBot calls setWebhook "
                                    "with it (and the secret_token) at start in webhook mode")
    bot_username: str = setting("", help="the bot's @username; learned with getMe when empty")
    api_base: str = setting("https://api.telegram.org", url=True)
    group_trigger: str = group_trigger_setting()
    max_message_age: float = setting(86400.0, minimum=60,
                                     help="older messages are ignored: Telegram keeps undelivered updates 24 h")

    def validate(self, path: str) -> None:
        if not _TOKEN_FORMAT.match(self.bot_token):
            raise ConfigError(f"{path}.bot_token", "does not look like a bot token",
                              "copy it from @BotFather: digits, a colon, then the secret part")
        if self.mode == WEBHOOK and not self.secret_token:
            raise ConfigError(f"{path}.secret_token", "is required in webhook mode",
                              'set it (and pass it to setWebhook), or use mode = "connect" (long polling)')
        if self.secret_token and not _SECRET_FORMAT.match(self.secret_token):
            raise ConfigError(f"{path}.secret_token", "must be 1-256 characters of A-Z, a-z, 0-9, _ and -",
                              "generate one, e.g. python3 -c 'import secrets; print(secrets.token_urlsafe(32))'")
        self.bot_username = self.bot_username.strip().lstrip("@")
        self.api_base = self.api_base.rstrip("/")

    def self_check(self) -> str:
        """For `smartbot check-config`: a short secret_token is guessable, and it is all that stands
        between the webhook and anyone who finds its URL."""
        if self.mode == WEBHOOK and len(self.secret_token) < MIN_SECRET_LENGTH:
            return f"secret_token is shorter than {MIN_SECRET_LENGTH} characters: use a long random value"
        return ""

    @property
    def bot_id(self) -> str:
        return self.bot_token.split(":", 1)[0]


class TelegramChannel(PlatformChannel):
    name = "telegram"
    config_class = TelegramConfig
    text_limit = 4096
    supports_markdown = True

    def __init__(self, config: TelegramConfig) -> None:
        super().__init__(config)
        self._username = config.bot_username
        self._username_lock = threading.Lock()
        self._username_failed_at = 0.0

    # -- inbound --------------------------------------------------------------------------
    def verify(self, req: WebRequest) -> None:
        given = req.headers.get(SECRET_HEADER, "")
        if not given:
            raise SignatureError(f"missing {SECRET_HEADER} header")
        if not hmac.compare_digest(given.encode("utf-8", "replace"), self.config.secret_token.encode()):
            raise SignatureError(f"{SECRET_HEADER} does not match")

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        update = json_object(req)
        if isinstance(update.get("callback_query"), dict):
            return self._press(update["callback_query"])
        message = update.get("message")
        if not isinstance(message, dict):
            return []       # edited_message, channel_post, my_chat_member, ...
        chat = need_object(message, "chat", "message")
        chat_id = need_id(chat, "id", "message.chat")
        message_id = need_id(message, "message_id", "message")
        sender = message.get("from")
        chat_type = _CHAT_TYPES.get(str(chat.get("type")))
        if not isinstance(sender, dict) or sender.get("is_bot") or chat_type is None:
            return []
        if self._too_old(message.get("date")):
            log.info("ignored telegram message %s:%s older than %ss", chat_id, message_id,
                     self.config.max_message_age)
            return []
        text = text_field(message, "text", "message") or text_field(message, "caption", "message")
        entities = message.get("entities") or message.get("caption_entities") or []
        if not isinstance(entities, list):
            raise PayloadError("message.entities must be a list")
        attachments = _attachments(message)
        if not text and not attachments:
            return []       # service messages: joins, pins, title changes, ...
        replied = str(optional_object(optional_object(message, "reply_to_message"), "from").get("id")) \
            == self.config.bot_id
        unsettled: dict[str, Any] = {}
        try:
            addressed = addressing(text, entities, replied, self._username or None, self.config.bot_id)
        except NameNeeded:     # only getMe can tell whom the mention or command names: the worker asks
            addressed = (replied, text)
            unsettled = {"text": text, "entities": addressing_entities(entities), "replied": replied}
        if addressed is None:
            return []       # a command for another bot in the same group
        mentioned, text = addressed
        if chat_type == DIRECT or self.config.group_trigger == "always":
            mentioned = True
        reply_context: dict[str, Any] = {"chat_id": chat_id, "message_id": message_id}
        if message.get("is_topic_message") and message.get("message_thread_id"):
            reply_context["message_thread_id"] = message["message_thread_id"]
        return [InboundMessage(
            channel=self.name, event_id=f"{chat_id}:{message_id}", message_id=message_id, chat_id=chat_id,
            chat_type=chat_type, user_id=need_id(sender, "id", "message.from"),
            user_name=display_name(sender.get("username"), _full_name(sender)),
            text=text, mentioned=mentioned, attachments=attachments, reply_context=reply_context,
            locale=optional_text(sender, "language_code", 20), raw=update, unsettled=unsettled)]

    def _press(self, query: dict[str, Any]) -> list[InboundMessage]:
        """A pressed inline button: keyed on the callback query's id, answered (answerCallbackQuery,
        the message edited) by the worker. A press on a message too old to carry one is ignored."""
        data = buttons.valid_data(query.get("data"))
        message = query.get("message")
        sender = query.get("from")
        if not data or not isinstance(message, dict) or not isinstance(sender, dict) or sender.get("is_bot"):
            return []
        query_id = need_id(query, "id", "callback_query")
        chat = need_object(message, "chat", "callback_query.message")
        chat_id = need_id(chat, "id", "callback_query.message.chat")
        return [InboundMessage(
            channel=self.name, event_id=f"press:{query_id}", message_id=need_id(message, "message_id", "message"),
            chat_id=chat_id, chat_type=_CHAT_TYPES.get(str(chat.get("type")), GROUP),
            user_id=need_id(sender, "id", "callback_query.from"),
            user_name=display_name(sender.get("username"), _full_name(sender)), text=buttons.PRESS_TEXT,
            mentioned=True, press=data, locale=optional_text(sender, "language_code", 20),
            reply_context={"chat_id": chat_id, "pressed_message_id": message["message_id"],
                           "callback_query_id": query_id})]

    def settle(self, msg: InboundMessage) -> InboundMessage | None:
        """Decide, now that the worker may ask getMe, whether a mention or command that `parse` could
        not place names this bot (None: a command for another bot)."""
        pending = msg.unsettled
        if not pending:
            return msg
        addressed = addressing(str(pending.get("text") or ""), list(pending.get("entities") or []),
                                bool(pending.get("replied")), self._bot_username(), self.config.bot_id)
        if addressed is None:
            return None
        mentioned, text = addressed
        if msg.chat_type == DIRECT or self.config.group_trigger == "always":
            mentioned = True
        return dataclasses.replace(msg, text=text, mentioned=mentioned, unsettled={})

    def _too_old(self, date: Any) -> bool:
        return isinstance(date, (int, float)) and time.time() - date > self.config.max_message_age

    def _bot_username(self) -> str:
        """The configured username, or the one getMe reports (asked once, retried after a minute).
        Called by the worker only: never while Telegram waits for a webhook's answer."""
        if self._username:
            return self._username
        with self._username_lock:
            if self._username or time.monotonic() - self._username_failed_at < _USERNAME_RETRY_SECONDS:
                return self._username
            try:
                resp = http.exchange(self._http, "GET", self._url("getMe"), timeout=self.config.timeout)
                self._username = str(optional_object(http.json_body(resp), "result").get("username") or "")
            except DeliveryError as exc:
                log.warning("could not learn the telegram bot's username (%s)", exc.reason)
            if not self._username:
                self._username_failed_at = time.monotonic()
                log.warning("telegram mentions cannot be recognised: set channels.telegram.bot_username")
            return self._username

    # -- outbound -------------------------------------------------------------------------
    def send(self, reply: Reply) -> None:
        ctx = reply.reply_context
        if buttons.press_answer(ctx):
            self._answer_press(reply)
            return
        if reply.file:
            self._send_file(reply)
            return
        body: dict[str, Any] = {**_chat(reply), "text": reply.text}
        offered = buttons.buttons_of(ctx)
        if offered:
            body["reply_markup"] = {"inline_keyboard": [[{"text": b["label"], "callback_data": b["data"]}
                                                         for b in offered]]}
        if ctx.get("message_id"):
            body["reply_parameters"] = {"message_id": int(ctx["message_id"]), "allow_sending_without_reply": True}
        self._formatted("sendMessage", body, reply)

    def _formatted(self, method: str, body: dict[str, Any], reply: Reply) -> Any:
        """Call `method` with the reply's text as HTML when it is markdown (as plain text when
        Telegram cannot parse that); its result."""
        if reply.format == "markdown":
            try:
                return self._call(method, {**body, "text": markup.to_telegram_html(reply.text), "parse_mode": "HTML"})
            except _EntitiesRejected:
                log.warning("telegram refused the formatted reply %s; sending it as plain text", reply.delivery_id)
        return self._call(method, body)

    # -- replies shown while written: a draft in private chats, else a message edited ---------
    typing_interval = 4.0       # "typing" lasts 5 s, or until the bot's next message

    def can_preview(self, reply: Reply) -> bool:
        return True

    def start_preview(self, reply: Reply) -> str:
        if _private(reply):
            draft = _draft_id(reply.delivery_id)
            try:
                self._call("sendMessageDraft", {**_chat(reply), "draft_id": draft, "text": reply.text})
                return f"{_DRAFT}:{draft}"
            except DeliveryError as exc:
                if exc.retryable:
                    raise
                log.info("telegram refused a draft (%s); previewing with a message instead", exc.reason)
        body = {**_chat(reply), "text": reply.text}
        if reply.reply_context.get("message_id"):
            body["reply_parameters"] = {"message_id": int(reply.reply_context["message_id"]),
                                        "allow_sending_without_reply": True}
        result = self._call("sendMessage", body)
        return f"{_MESSAGE}:{result.get('message_id') if isinstance(result, dict) else ''}"

    def update_preview(self, reply: Reply, handle: str) -> None:
        kind, _, ident = handle.partition(":")
        if kind == _DRAFT:
            self._call("sendMessageDraft", {**_chat(reply), "draft_id": int(ident), "text": reply.text})
        else:
            self._edit(reply, ident)

    def finish_preview(self, reply: Reply, handle: str) -> None:
        kind, _, ident = handle.partition(":")
        if kind == _DRAFT:
            self.send(reply)        # a draft is no message: the final one is sent, and the draft gives way
        else:
            self._edit(reply, ident)

    def typing(self, reply: Reply) -> None:
        self._call("sendChatAction", {**_chat(reply), "action": "typing"})

    def _edit(self, reply: Reply, message_id: str) -> None:
        if not message_id.isdigit():
            raise DeliveryError("the preview's telegram message id is not a number", retryable=False)
        chat = _chat(reply)
        chat.pop("message_thread_id", None)
        try:
            self._formatted("editMessageText", {**chat, "message_id": int(message_id), "text": reply.text}, reply)
        except _Unchanged:
            pass        # the message already reads so: a repeated final edit is done

    def _answer_press(self, reply: Reply) -> None:
        """The answer to a pressed button: the spinner stopped (an alert only the presser sees, for
        a refusal), and for a decision the message edited to show it, its buttons gone."""
        ctx = reply.reply_context
        private = buttons.press_answer(ctx) == buttons.PRIVATE
        answer: dict[str, Any] = {"callback_query_id": str(ctx.get("callback_query_id") or ""),
                                  "text": reply.text[:CALLBACK_TEXT_LIMIT]}
        if private:
            answer["show_alert"] = True
        try:
            self._call("answerCallbackQuery", answer)
        except DeliveryError as exc:
            if exc.retryable or private:
                raise
            log.info("telegram: the button press was not answered (%s); the query is too old", exc.reason)
        if private:
            return
        try:
            self._call("editMessageText", {"chat_id": ctx.get("chat_id") or reply.chat_id,
                                           "message_id": ctx.get("pressed_message_id"), "text": reply.text,
                                           "reply_markup": {"inline_keyboard": []}})
        except _Unchanged:
            pass        # an earlier attempt edited it and its answer was lost

    def _send_file(self, reply: Reply) -> None:
        """An image as sendPhoto, any other file as sendDocument (multipart)."""
        ctx = reply.reply_context
        photo = reply.file.get("mime", "").startswith("image/")
        fields: dict[str, Any] = _chat(reply)
        if ctx.get("message_id"):
            fields["reply_parameters"] = json.dumps({"message_id": int(ctx["message_id"]),
                                                     "allow_sending_without_reply": True})
        upload = (reply.file.get("name") or "file", reply.file_bytes(), reply.file.get("mime") or None)
        self._call("sendPhoto" if photo else "sendDocument", fields, {"photo" if photo else "document": upload})

    def _call(self, method: str, body: dict[str, Any], upload: Any = None) -> Any:
        """`method` with `body` as JSON, or as form fields beside `upload`'s files (multipart)."""
        url = self._url(method)
        sending = {"data": body, "files": upload} if upload else {"json": body}
        resp = http.exchange(self._http, "POST", url, timeout=self.config.timeout, **sending)
        data = http.json_body(resp)
        if resp.status_code < 400 and data.get("ok") is not False:
            return data.get("result")
        description = str(data.get("description") or "")[:300]
        if resp.status_code == 400 and "can't parse entities" in description.lower():
            raise _EntitiesRejected(description)
        if resp.status_code == 400 and "message is not modified" in description.lower():
            raise _Unchanged(description)
        parameters = data.get("parameters") if isinstance(data.get("parameters"), dict) else {}
        retry_after = parameters.get("retry_after")
        if not isinstance(retry_after, (int, float)):
            retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        status = resp.status_code if resp.status_code >= 400 else _error_code(data)
        raise http.error_for(status, url, description, retry_after)

    # -- files ------------------------------------------------------------------------------
    def fetch(self, msg: InboundMessage, attachment: Attachment, limits: files.FetchLimits) -> bytes:
        """getFile names the file's path on Telegram's file server; the file comes from there."""
        if not attachment.key:
            raise MediaRefused("unavailable", "the message names no Telegram file")
        try:
            resp = http.exchange(self._http, "POST", self._url("getFile"), json={"file_id": attachment.key},
                                 timeout=self.config.timeout)
        except DeliveryError as exc:
            raise MediaRefused("unavailable", exc.reason) from None
        result = optional_object(http.json_body(resp), "result")
        path = result.get("file_path")
        if resp.status_code != 200 or not isinstance(path, str) or not path or ".." in path:
            raise MediaRefused("unavailable", f"getFile answered {resp.status_code}")
        size = result.get("file_size")
        if isinstance(size, int) and size > limits.max_bytes:
            raise files.too_large(limits.max_bytes)
        return files.download(self._http, f"{self.config.api_base}/file/bot{self.config.bot_token}/{path}", limits)

    def _url(self, method: str) -> str:
        return f"{self.config.api_base}/bot{self.config.bot_token}/{method}"


def _full_name(person: dict[str, Any]) -> str:
    return " ".join(p for p in (person.get("first_name"), person.get("last_name")) if isinstance(p, str) and p)


def _error_code(data: dict[str, Any]) -> int:
    code = data.get("error_code")
    return code if isinstance(code, int) and code >= 400 else 400


class _EntitiesRejected(Exception):
    """Telegram could not parse the formatted text; the reply goes again as plain text."""


class _Unchanged(Exception):
    """An edit to the text the message already has."""


_DRAFT, _MESSAGE = "draft", "message"


def _chat(reply: Reply) -> dict[str, Any]:
    """Where a reply goes: the chat, and the forum topic it was written in."""
    ctx = reply.reply_context
    body: dict[str, Any] = {"chat_id": ctx.get("chat_id") or reply.chat_id}
    if ctx.get("message_thread_id"):
        body["message_thread_id"] = ctx["message_thread_id"]
    return body


def _private(reply: Reply) -> bool:
    """A private chat: Telegram gives people positive ids, groups and channels negative ones."""
    return not str(reply.reply_context.get("chat_id") or reply.chat_id).startswith("-")


def _draft_id(delivery_id: str) -> int:
    """A draft id (non-zero) that is the same for every try of one reply."""
    return int(hashlib.sha256(delivery_id.encode()).hexdigest()[:8], 16) % 2_000_000_000 + 1


def _attachments(message: dict[str, Any]) -> list[Attachment]:
    found = []
    for key, kind in _MEDIA:
        item = message.get(key)
        if isinstance(item, list) and item:
            item = item[-1]     # photo sizes come smallest first
        if isinstance(item, dict) and item.get("file_id"):
            size = item.get("file_size")
            found.append(Attachment(kind=kind, name=str(item.get("file_name") or "")[:200], key=str(item["file_id"]),
                                    mime=str(item.get("mime_type") or "")[:100],
                                    size=size if isinstance(size, int) and size > 0 else 0))
    return found
