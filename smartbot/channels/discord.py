"""Discord (interactions endpoint): slash commands in, a deferred ack, the answer as a follow-up.

Authenticity is the Ed25519 signature (X-Signature-Ed25519) of timestamp + raw body under the
application's public key; failures get 401, as Discord requires (it probes with bad signatures).
PING is answered with PONG. `/ask <text>` becomes the message text (as does the target of a message
command); any other command becomes "/<name> <option values>" so the command catalogue works from
Discord. A command is acknowledged at
once with a deferred response (type 5); the reply is POSTed later to the follow-up webhook, whose
interaction token lasts 15 minutes: after that the reply fails for good with a clear reason.
The interaction token is a credential: it goes into the reply context, never into logs or reasons.

Buttons: a reply offering decision buttons carries them as message components (an action row of
buttons whose custom_id is the press's data). A press is a MESSAGE_COMPONENT interaction, keyed on
its id and acknowledged at once with DEFERRED_UPDATE_MESSAGE (type 6, nothing shown yet); the
worker then edits the pressed message (`PATCH .../messages/@original`, buttons gone) to show the
decision, or tells a refusal in an ephemeral follow-up (flags 64) only the presser sees.

In connect mode (channels/connect/discord.py) ordinary messages arrive over the Gateway as
MESSAGE_CREATE events: `parse_message` takes those written in a DM, mentioning the bot or replying
to it, keyed on the message id, and the reply is posted to the message's channel as a reply to it
(`POST /channels/<id>/messages`, with the bot token).

A reply is shown while it is written (`stream`): created, then edited (PATCH of the follow-up or
the channel message); in a Gateway message's channel, typing shows until then.
"""
from __future__ import annotations

import base64
import json
import re
import time
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from ..errors import ConfigError, DeliveryError, MediaRefused, PayloadError, SignatureError
from ..messages import DIRECT, GROUP, Attachment, InboundMessage, Reply
from ..settings.schema import setting
from .support import buttons, files, http
from .base import CONNECT, PlatformStreamingConfig, WebRequest, WebResponse
from .support.common import (PlatformChannel, PlatformConfig, attachment_kind, display_name, json_object, need_id,
                     need_object, optional_object, optional_text, signed_headers, text_field)
from .support.timestamps import check_window

SIGNATURE_HEADER = "X-Signature-Ed25519"
TIMESTAMP_HEADER = "X-Signature-Timestamp"
PING, APPLICATION_COMMAND, MESSAGE_COMPONENT, AUTOCOMPLETE, MODAL_SUBMIT = 1, 2, 3, 4, 5
PONG = {"type": 1}
DEFERRED_MESSAGE = {"type": 5}
ASK_COMMAND = "ask"
TOKEN_LIFETIME = 15 * 60
PRIVATE_CHANNEL_CONTEXT = 2       # a group DM: several people, no guild
_SUBCOMMAND_TYPES = (1, 2)
_MESSAGE_COMMAND = 3
_ATTACHMENT_OPTION = 11
# What a non-command interaction gets: no visible answer (components, modals), no suggestions.
_QUIET_ACKS = {MESSAGE_COMPONENT: {"type": 6}, MODAL_SUBMIT: {"type": 6},
               AUTOCOMPLETE: {"type": 8, "data": {"choices": []}}}
_EXPIRED_TOKEN_CODES = (50027, 10015)    # Invalid Webhook Token, Unknown Webhook
_HEX = re.compile(r"^[0-9a-fA-F]+$")
# Gateway message types a person writes: DEFAULT and REPLY; joins, pins, boosts... are not messages.
_PERSON_MESSAGE_TYPES = (0, 19)
_SNOWFLAKE = re.compile(r"^[0-9]{1,25}$")
CDN_HOSTS = ("cdn.discordapp.com", "media.discordapp.net")     # where attachments are served
ACTION_ROW, BUTTON, SUCCESS, DANGER = 1, 2, 3, 4     # component types and button styles
EPHEMERAL = 64                                      # message flag: only the interaction's user sees it


@dataclass
class DiscordConfig(PlatformConfig, PlatformStreamingConfig):
    application_id: str = setting("", help="General Information > Application ID; required in webhook mode")
    public_key: str = setting("", help="General Information > Public Key (64 hex characters); required in webhook mode")
    bot_token: str = setting("", secret=True,
                             help="Bot > Token: connect mode's Gateway and replies; in webhook mode only for registering commands")
    api_base: str = setting("https://discord.com/api/v10", url=True)
    tolerance_seconds: int = setting(300, minimum=1)

    def validate(self, path: str) -> None:
        self.api_base = self.api_base.rstrip("/")
        connect = self.mode == CONNECT
        if connect and not self.bot_token:
            raise ConfigError(f"{path}.bot_token", "is required in connect mode (the Gateway)",
                              "copy it from the Developer Portal, Bot > Reset Token")
        for key in ("application_id", "public_key"):
            if not connect and not getattr(self, key):
                raise ConfigError(f"{path}.{key}", "is required in webhook mode (the interactions endpoint)",
                                  'copy it from the Developer Portal, General Information, or use mode = "connect"')
        if self.application_id and not self.application_id.isdigit():
            raise ConfigError(f"{path}.application_id", "must be the numeric Application ID",
                              "copy it from the Developer Portal, General Information")
        if not self.public_key:
            return
        if len(self.public_key) != 64 or not _HEX.match(self.public_key):
            raise ConfigError(f"{path}.public_key", "must be 64 hexadecimal characters",
                              "copy the Public Key from the Developer Portal, General Information")
        try:
            Ed25519PublicKey.from_public_bytes(bytes.fromhex(self.public_key))
        except ValueError:
            raise ConfigError(f"{path}.public_key", "is not an Ed25519 public key",
                              "copy the Public Key from the Developer Portal, General Information") from None


class DiscordChannel(PlatformChannel):
    name = "discord"
    config_class = DiscordConfig
    text_limit = 2000
    supports_markdown = True

    def __init__(self, config: DiscordConfig) -> None:
        super().__init__(config)
        # None in connect mode without a public key: then the webhook is closed (404) before verify.
        self._key = Ed25519PublicKey.from_public_bytes(bytes.fromhex(config.public_key)) if config.public_key else None

    # -- inbound --------------------------------------------------------------------------
    def verify(self, req: WebRequest) -> None:
        timestamp, signature = signed_headers(req, TIMESTAMP_HEADER, SIGNATURE_HEADER)
        if len(signature) != 128 or not _HEX.match(signature):
            raise SignatureError(f"{SIGNATURE_HEADER} must be 128 hexadecimal characters")
        if self._key is None:
            raise SignatureError("no public_key is configured to verify interactions with")
        try:
            self._key.verify(bytes.fromhex(signature), timestamp.encode("ascii") + req.body)
        except InvalidSignature:
            raise SignatureError("signature does not match") from None
        check_window(timestamp, self.config.tolerance_seconds, TIMESTAMP_HEADER)

    def handshake(self, req: WebRequest) -> WebResponse | None:
        return WebResponse(200, PONG) if _interaction_type(json_object(req)) == PING else None

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        data = json_object(req)
        if _interaction_type(data) == MESSAGE_COMPONENT:
            return self.parse_press(data)
        if _interaction_type(data) != APPLICATION_COMMAND:
            return []
        interaction_id = need_id(data, "id", "interaction")
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise PayloadError("missing field: interaction.token")
        command = need_object(data, "data", "interaction")
        name = command.get("name")
        if not isinstance(name, str) or not name:
            raise PayloadError("missing field: interaction.data.name")
        user = optional_object(optional_object(data, "member"), "user") or optional_object(data, "user")
        if not user:
            raise PayloadError("missing field: interaction.member.user or interaction.user")
        channel_id = data.get("channel_id") or optional_object(data, "channel").get("id")
        if not isinstance(channel_id, (str, int)) or isinstance(channel_id, bool) or channel_id == "":
            raise PayloadError("missing field: interaction.channel_id")
        in_group = bool(data.get("guild_id")) or data.get("context") == PRIVATE_CHANNEL_CONTEXT
        received = time.time()
        return [InboundMessage(
            channel=self.name, event_id=interaction_id, message_id=interaction_id, chat_id=str(channel_id)[:200],
            chat_type=GROUP if in_group else DIRECT, user_id=need_id(user, "id", "interaction.user"),
            user_name=display_name(user.get("global_name"), user.get("username")),
            text=_command_text(name, command), mentioned=True, attachments=_attachments(command),
            locale=optional_text(data, "locale", 20),
            reply_context={"interaction_token": token, "expires_at": received + TOKEN_LIFETIME},
            received_at=received, raw=data)]

    def parse_press(self, data: dict[str, Any]) -> list[InboundMessage]:
        """A button of ours pressed (MESSAGE_COMPONENT); [] for a component that is not ours."""
        press = buttons.valid_data(optional_object(data, "data").get("custom_id"))
        if not press:
            return []
        token = data.get("token")
        if not isinstance(token, str) or not token:
            raise PayloadError("missing field: interaction.token")
        user = optional_object(optional_object(data, "member"), "user") or optional_object(data, "user")
        if not user:
            raise PayloadError("missing field: interaction.member.user or interaction.user")
        interaction_id = need_id(data, "id", "interaction")
        channel_id = str(data.get("channel_id") or optional_object(data, "channel").get("id") or "")[:200]
        received = time.time()
        return [InboundMessage(
            channel=self.name, event_id=f"press:{interaction_id}", message_id=interaction_id, chat_id=channel_id,
            chat_type=GROUP if data.get("guild_id") else DIRECT, user_id=need_id(user, "id", "interaction.user"),
            user_name=display_name(user.get("global_name"), user.get("username")), text=buttons.PRESS_TEXT,
            mentioned=True, press=press, locale=optional_text(data, "locale", 20), received_at=received,
            reply_context={"interaction_token": token, "expires_at": received + TOKEN_LIFETIME,
                           "application_id": _application(data)})]

    def acknowledge(self, req: WebRequest, accepted: list[InboundMessage], duplicates: int) -> WebResponse:
        if _interaction_type(json_object(req)) == MESSAGE_COMPONENT:
            return WebResponse(200, _QUIET_ACKS[MESSAGE_COMPONENT])     # the worker answers a press
        if accepted or duplicates:
            return WebResponse(200, DEFERRED_MESSAGE)
        return WebResponse(200, _QUIET_ACKS.get(_interaction_type(json_object(req)), DEFERRED_MESSAGE))

    def fetch(self, msg: InboundMessage, attachment: Attachment, limits: files.FetchLimits) -> bytes:
        """The attachment's URL, only on Discord's CDN (or the configured api_base's host); no token
        goes with it: CDN links are signed in their query."""
        if not files.on_hosts(attachment.url, CDN_HOSTS, self.config.api_base):
            raise MediaRefused("unavailable", "the attachment's address is not on Discord's CDN")
        return files.download(self._http, attachment.url, limits)

    def parse_message(self, message: dict[str, Any], bot_user_id: str) -> list[InboundMessage]:
        """A Gateway MESSAGE_CREATE: a message for this bot when it is written in a DM, mentions the
        bot or replies to one of its messages; [] for everything else (other people's talk, bots,
        webhooks, system messages). The bot's mention is taken out of the text."""
        if message.get("type", 0) not in _PERSON_MESSAGE_TYPES or message.get("webhook_id"):
            return []
        author = need_object(message, "author", "message")
        user_id = need_id(author, "id", "message.author")
        if author.get("bot") or user_id == bot_user_id:
            return []
        message_id = _snowflake(message, "id")
        channel_id = _snowflake(message, "channel_id")
        direct = not message.get("guild_id")
        if not (direct or _mentions(message, bot_user_id) or _replies_to(message, bot_user_id)):
            return []
        text = _without_mention(text_field(message, "content", "message"), bot_user_id)
        files = message.get("attachments")
        attachments = [_attachment(f.get("id"), f) for f in files if isinstance(f, dict)] if isinstance(files, list) else []
        if not text and not attachments:
            return []
        member = optional_object(message, "member")
        return [InboundMessage(
            channel=self.name, event_id=message_id, message_id=message_id, chat_id=channel_id,
            chat_type=DIRECT if direct else GROUP, user_id=user_id,
            user_name=display_name(member.get("nick"), author.get("global_name"), author.get("username")),
            text=text, mentioned=True, attachments=attachments,
            reply_context={"channel_id": channel_id, "message_id": message_id}, raw=message)]

    # -- outbound -------------------------------------------------------------------------
    def send(self, reply: Reply) -> None:
        answer = buttons.press_answer(reply.reply_context)
        if not answer or self._to_channel(reply):
            self._post(reply)
            return
        url, body = self._followup_url(reply), {"content": reply.text, "allowed_mentions": {"parse": []}}
        if answer == buttons.UPDATE:            # the pressed message itself, its buttons gone
            self._call("PATCH", url + "/messages/@original", {**body, "components": []}, {})
        else:
            self._call("POST", url, {**body, "flags": EPHEMERAL}, {})

    @staticmethod
    def _to_channel(reply: Reply) -> bool:
        """A Gateway message's answer, or a notice to a channel (no interaction to answer)."""
        ctx = reply.reply_context
        return bool(ctx.get("channel_id")) or (not ctx.get("interaction_token") and bool(_SNOWFLAKE.match(reply.chat_id)))

    def _post(self, reply: Reply) -> dict[str, Any]:
        """Post a reply (the answer to an interaction, or to a Gateway message); the message Discord made."""
        if self._to_channel(reply):
            return self._post_to_channel(reply)
        url = self._followup_url(reply)
        return self._call("POST", url, {"content": reply.text, "allowed_mentions": {"parse": []}}, {}, reply.file)

    def _followup_url(self, reply: Reply) -> str:
        ctx = reply.reply_context
        token = ctx.get("interaction_token")
        if not token:
            raise DeliveryError("the reply has no interaction token to answer with", retryable=False)
        if time.time() >= float(ctx.get("expires_at") or 0):
            raise DeliveryError("the Discord interaction token expired (15 minutes) before the reply was sent",
                                retryable=False)
        application = str(ctx.get("application_id") or self.config.application_id)
        return f"{self.config.api_base}/webhooks/{application}/{quote(str(token), safe='')}"

    def _post_to_channel(self, reply: Reply) -> dict[str, Any]:
        """A reply to a Gateway message: posted in its channel, as a reply to it, with the bot token.
        Mentions in the text are shown but ping nobody, so a model's answer cannot ping @everyone."""
        ctx = reply.reply_context
        message_id = str(ctx.get("message_id") or "")
        body: dict[str, Any] = {"content": reply.text, "allowed_mentions": {"parse": [], "replied_user": False}}
        if _SNOWFLAKE.match(message_id):
            body["message_reference"] = {"message_id": message_id, "fail_if_not_exists": False}
        offered = buttons.buttons_of(ctx)
        if offered:
            body["components"] = [{"type": ACTION_ROW, "components": [
                {"type": BUTTON, "style": SUCCESS if b["approve"] else DANGER, "label": b["label"][:80],
                 "custom_id": b["data"]} for b in offered]}]
        return self._call("POST", f"{self._channel_url(reply)}/messages", body, self._bot_auth(), reply.file)

    def _channel_url(self, reply: Reply) -> str:
        channel_id = str(reply.reply_context.get("channel_id") or reply.chat_id)
        if not _SNOWFLAKE.match(channel_id):
            raise DeliveryError("the reply's Discord channel id is not a Discord id", retryable=False)
        return f"{self.config.api_base}/channels/{channel_id}"

    def _bot_auth(self) -> dict[str, str]:
        if not self.config.bot_token:
            raise DeliveryError("channels.discord.bot_token is not set: Gateway messages are answered with it",
                                retryable=False)
        return {"Authorization": f"Bot {self.config.bot_token}"}

    # -- replies shown while written: a message created, then edited ---------------------------
    typing_interval = 8.0       # Discord's typing indicator lasts 10 s, or until the bot's message

    def can_preview(self, reply: Reply) -> bool:
        return True

    def start_preview(self, reply: Reply) -> str:
        message_id = str(self._post(reply).get("id") or "")
        if not _SNOWFLAKE.match(message_id):
            raise DeliveryError("Discord answered the preview without a message id", retryable=False)
        return message_id

    def update_preview(self, reply: Reply, handle: str) -> None:
        if not _SNOWFLAKE.match(handle):
            raise DeliveryError("the preview's Discord message id is not a Discord id", retryable=False)
        body = {"content": reply.text, "allowed_mentions": {"parse": []}}
        if self._to_channel(reply):
            self._call("PATCH", f"{self._channel_url(reply)}/messages/{handle}", body, self._bot_auth())
        else:
            self._call("PATCH", f"{self._followup_url(reply)}/messages/{handle}", body, {})

    def typing(self, reply: Reply) -> None:
        """Typing in the channel of a Gateway message (an interaction shows Discord's own "thinking")."""
        if reply.reply_context.get("channel_id") and self.config.bot_token:
            self._call("POST", f"{self._channel_url(reply)}/typing", None, self._bot_auth())

    def _call(self, method: str, url: str, body: Any, headers: dict[str, str],
              file: dict[str, str] | None = None) -> dict[str, Any]:
        """One REST call, `body` as JSON (multipart beside `file`, a file reply's upload)."""
        resp = http.exchange(self._http, method, url, **_payload(body, file), timeout=self.config.timeout,
                             headers=headers)
        if resp.status_code < 400:
            return http.json_body(resp)
        if resp.status_code == 401 and headers:
            raise DeliveryError("Discord refused channels.discord.bot_token (401)", retryable=False)
        if not headers and http.json_body(resp).get("code") in _EXPIRED_TOKEN_CODES:
            raise DeliveryError("Discord no longer accepts this interaction's token (expired or unknown)",
                                retryable=False)
        _raise_for(resp, url)
        return {}


def _payload(body: Any, file: dict[str, str] | None) -> dict[str, Any]:
    """The request's body: JSON, or with a file multipart (`payload_json` and `files[0]`)."""
    if not file:
        return {"json": body}
    name = file.get("name") or "file"
    body = {**body, "content": "", "attachments": [{"id": 0, "filename": name}]}
    return {"data": {"payload_json": json.dumps(body)},
            "files": {"files[0]": (name, base64.b64decode(file.get("data") or ""),
                                   file.get("mime") or "application/octet-stream")}}


def _raise_for(resp: Any, url: str) -> None:
    """DeliveryError with Discord's own reason and its `retry_after` (given in the body)."""
    data = http.json_body(resp)
    retry_after = data.get("retry_after")
    http.raise_for_status(resp, url, str(data.get("message") or "")[:200],
                          float(retry_after) if isinstance(retry_after, (int, float)) else None)


def _application(data: dict[str, Any]) -> str:
    """The interaction's application id (connect mode needs no application_id setting); "" if odd."""
    value = str(data.get("application_id") or "")
    return value if _SNOWFLAKE.match(value) else ""


def _interaction_type(data: dict[str, Any]) -> int:
    kind = data.get("type")
    if not isinstance(kind, int) or isinstance(kind, bool):
        raise PayloadError("missing field: interaction.type (a number)")
    return kind


def _command_text(name: str, command: dict[str, Any]) -> str:
    """`/ask <text>` is the text itself, as is the message a message command was used on; other
    commands read "/<name> <values>" for the router."""
    if command.get("type") == _MESSAGE_COMMAND:
        return _target_message(command)
    words = " ".join(v for v in _option_values(command.get("options")) if v)
    if name == ASK_COMMAND:
        return words
    return f"/{name} {words}".strip()


def _option_values(options: Any) -> list[str]:
    values: list[str] = []
    for option in options if isinstance(options, list) else []:
        if not isinstance(option, dict):
            continue
        if option.get("type") == _ATTACHMENT_OPTION:
            continue        # an upload, not words: see _attachments
        if option.get("type") in _SUBCOMMAND_TYPES:
            values.append(str(option.get("name") or ""))
            values.extend(_option_values(option.get("options")))
        elif option.get("value") is not None:
            values.append(str(option["value"]))
    return values


def _attachments(command: dict[str, Any]) -> list[Attachment]:
    """Files given to attachment options; Discord describes them under data.resolved.attachments."""
    files = optional_object(optional_object(command, "resolved"), "attachments")
    return [_attachment(key, f) for key, f in files.items() if isinstance(f, dict)]


def _attachment(key: Any, file: dict[str, Any]) -> Attachment:
    content_type = optional_text(file, "content_type", 100)
    # A voice message is an audio attachment carrying its waveform (and the message flag 1 << 13).
    kind = "voice" if file.get("waveform") and content_type.startswith("audio/") else attachment_kind(content_type)
    size = file.get("size")
    return Attachment(kind=kind, name=optional_text(file, "filename"), url=optional_text(file, "url", 2000),
                      key=str(key or "")[:200], mime=content_type,
                      size=size if isinstance(size, int) and size > 0 else 0)


def _snowflake(message: dict[str, Any], key: str) -> str:
    """A Discord id of the message; it becomes part of a reply's URL, so nothing but digits."""
    value = need_id(message, key, "message")
    if not _SNOWFLAKE.match(value):
        raise PayloadError(f"message.{key} is not a Discord id")
    return value


def _mention_of(bot_user_id: str) -> re.Pattern[str]:
    """`<@id>` or the older nickname form `<@!id>`: how a mention of one user is written in content."""
    return re.compile(rf"<@!?{re.escape(bot_user_id)}>")


def _mentions(message: dict[str, Any], bot_user_id: str) -> bool:
    mentions = message.get("mentions")
    listed = isinstance(mentions, list) and any(isinstance(m, dict) and str(m.get("id")) == bot_user_id
                                                for m in mentions)
    return bool(bot_user_id) and (listed or _mention_of(bot_user_id).search(str(message.get("content") or "")) is not None)


def _replies_to(message: dict[str, Any], bot_user_id: str) -> bool:
    """A reply to one of the bot's own messages (Discord's "reply" arrow), pinged or not."""
    replied = optional_object(optional_object(message, "referenced_message"), "author")
    return bool(bot_user_id) and str(replied.get("id") or "") == bot_user_id


def _without_mention(text: str, bot_user_id: str) -> str:
    if bot_user_id:
        text = _mention_of(bot_user_id).sub("", text)
    return re.sub(r"[ \t]{2,}", " ", text).strip()


def _target_message(command: dict[str, Any]) -> str:
    """The text of the message a message command (right click > Apps) was used on."""
    messages = optional_object(optional_object(command, "resolved"), "messages")
    return str(optional_object(messages, str(command.get("target_id"))).get("content") or "")
