"""Slack (Events API): event callbacks in, chat.postMessage out, in the message's thread.

Authenticity is Slack's v0 signature, hex HMAC-SHA256(signing_secret, "v0:<timestamp>:<raw body>"),
with a 5-minute window on the timestamp. The dedup key is `<channel>:<ts>`: Slack's retries
(X-Slack-Retry-Num) reuse it, and an `app_mention` and a `message` event describing one message
share it, so either way the message is answered once. Bots' messages, edits, deletions and joins
are acknowledged and ignored. Slack answers HTTP 200 with `ok: false` for most errors; those are
mapped to DeliveryError here.

A reply is shown while it is written (`stream`): posted, then edited with chat.update; in an
assistant thread its status reads "is typing..." until then.

Buttons: a reply offering decision buttons is posted with Block Kit (a section and an actions
block). A press arrives as the interactivity request, `payload=<JSON>` form-encoded and signed like
every other request; a `block_actions` press is keyed on its trigger_id and answered by the
worker: `chat.update` shows the decision in place of the buttons, `chat.postEphemeral` tells a
refusal to the presser alone. No URL from the payload (`response_url`) is ever called.
"""
from __future__ import annotations

import hmac
import logging
import re
from dataclasses import dataclass
from functools import cached_property
from typing import Any
from urllib.parse import parse_qs

from ..errors import ConfigError, DeliveryError, MediaRefused, PayloadError, SignatureError
from ..httputil import load_json, retry_after_seconds
from ..messages import DIRECT, GROUP, Attachment, InboundMessage, Reply
from ..settings.schema import setting
from .support import buttons, files, http, markup
from .base import CONNECT, WEBHOOK, PlatformStreamingConfig, WebRequest, WebResponse
from .support.common import (PlatformChannel, PlatformConfig, attachment_kind, display_name,
                     group_trigger_setting, json_object, need_id, need_object, optional_object,
                     optional_text, signed_headers, text_field)
from .support.timestamps import check_window

log = logging.getLogger(__name__)

TIMESTAMP_HEADER = "X-Slack-Request-Timestamp"
SIGNATURE_HEADER = "X-Slack-Signature"
# Subtypes that are still a person writing to us; every other subtype is an edit, a join, a bot...
_USER_SUBTYPES = (None, "file_share", "thread_broadcast")
FILE_HOSTS = ("files.slack.com",)      # where url_private points; the bot token goes nowhere else
# ok=false errors worth another try later; every other one needs a person to fix something.
_RETRYABLE_ERRORS = {"ratelimited": 429, "internal_error": 503, "fatal_error": 503,
                     "service_unavailable": 503, "request_timeout": 408}
_HEX = re.compile(r"^[0-9a-f]+$")
ACTION_PREFIX = "smartbot_decision_"     # action_id of our buttons (unique within a message)
SECTION_LIMIT = 3000                     # characters of a section block's text
_AUTH_ERRORS = ("invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
                "missing_scope", "not_allowed_token_type")


@dataclass
class SlackConfig(PlatformConfig, PlatformStreamingConfig):
    bot_token: str = setting(required=True, secret=True, help="the Bot User OAuth Token (xoxb-...)")
    signing_secret: str = setting("", secret=True, help="Basic Information > Signing Secret; required in webhook mode")
    app_token: str = setting("", secret=True,
                             help="Socket Mode (connect mode): an app-level token (xapp-...) with connections:write")
    bot_user_id: str = setting("", help="the bot's user id (U...); read from each event's authorizations when empty")
    api_base: str = setting("https://slack.com/api", url=True)
    group_trigger: str = group_trigger_setting()
    tolerance_seconds: int = setting(300, minimum=1)

    def validate(self, path: str) -> None:
        self.api_base = self.api_base.rstrip("/")
        if not self.bot_token.startswith("xoxb-"):
            log.warning("%s.bot_token does not start with xoxb-: use the Bot User OAuth Token", path)
        if self.mode == WEBHOOK and not self.signing_secret:
            raise ConfigError(f"{path}.signing_secret", "is required in webhook mode",
                              'copy it from Basic Information > Signing Secret, or use mode = "connect" (Socket Mode)')
        if self.mode == CONNECT and not self.app_token.startswith("xapp-"):
            raise ConfigError(f"{path}.app_token", "connect mode (Socket Mode) needs an app-level token (xapp-...)",
                              "Basic Information > App-Level Tokens: create one with the connections:write scope")

    def self_check(self) -> str:
        """For `smartbot check-config`: Slack's signing secrets are 32 hex characters."""
        if self.mode == WEBHOOK and (len(self.signing_secret) != 32 or not _HEX.match(self.signing_secret)):
            return "signing_secret is not the 32 hex characters Slack shows: copy it again from Basic Information"
        return ""


class SlackChannel(PlatformChannel):
    name = "slack"
    config_class = SlackConfig
    text_limit = 3500           # Slack takes ~40k, but long posts are unreadable; split for people
    supports_markdown = True

    # -- inbound --------------------------------------------------------------------------
    def verify(self, req: WebRequest) -> None:
        timestamp, signature = signed_headers(req, TIMESTAMP_HEADER, SIGNATURE_HEADER)
        mac = self._keyed_mac.copy()
        mac.update(b"v0:" + timestamp.encode("ascii") + b":" + req.body)
        expected = "v0=" + mac.hexdigest()
        if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "replace")):
            raise SignatureError("signature does not match")
        check_window(timestamp, self.config.tolerance_seconds, TIMESTAMP_HEADER)

    @cached_property
    def _keyed_mac(self) -> Any:
        """HMAC-SHA256 keyed with the signing secret, set up once: each request copies it, since
        setting up a key costs OpenSSL more than hashing a whole event."""
        return hmac.new(self.config.signing_secret.encode(), digestmod="sha256")

    def handshake(self, req: WebRequest) -> WebResponse | None:
        if _is_interaction(req):
            return None
        data = json_object(req)
        if data.get("type") != "url_verification":
            return None
        challenge = data.get("challenge")
        if not isinstance(challenge, str) or not challenge:
            raise PayloadError("url_verification without a challenge")
        return WebResponse(200, {"challenge": challenge})

    def parse(self, req: WebRequest) -> list[InboundMessage]:
        if _is_interaction(req):
            return self.parse_interaction(_interaction(req))
        data = json_object(req)
        if data.get("type") != "event_callback":
            return []
        event = need_object(data, "event", "body")
        kind = event.get("type")
        if kind not in ("message", "app_mention") or event.get("subtype") not in _USER_SUBTYPES:
            return []
        bot_user = self.config.bot_user_id or _authorized_bot(data)
        user = event.get("user")
        if event.get("bot_id") or not isinstance(user, str) or not user or user == bot_user:
            return []
        channel = need_id(event, "channel", "event")
        ts = need_id(event, "ts", "event")
        text = text_field(event, "text", "event")
        chat_type = DIRECT if event.get("channel_type") == "im" else GROUP
        says_my_name = bool(bot_user) and _mention_of(bot_user).search(text) is not None
        if chat_type == DIRECT or kind == "app_mention" or self.config.group_trigger == "always" or says_my_name:
            mentioned = True
        elif bot_user:
            mentioned = False
        else:
            # Without the bot's id a mention cannot be told apart here; its app_mention event will come.
            return []
        attachments = _attachments(event.get("files"))
        text = _clean(text, bot_user, strip_first=kind == "app_mention" and not bot_user)
        if not text and not attachments:
            return []
        profile = optional_object(event, "user_profile")
        return [InboundMessage(
            channel=self.name, event_id=f"{channel}:{ts}", message_id=ts, chat_id=channel, chat_type=chat_type,
            user_id=user, user_name=display_name(profile.get("display_name"), profile.get("real_name")),
            text=text, mentioned=mentioned, attachments=attachments,
            reply_context={"channel": channel, "thread_ts": optional_text(event, "thread_ts") or ts}, raw=data)]

    def fetch(self, msg: InboundMessage, attachment: Attachment, limits: files.FetchLimits) -> bytes:
        """`url_private` with the bot token, only on Slack's file host (or the configured api_base's)."""
        if not files.on_hosts(attachment.url, FILE_HOSTS, self.config.api_base):
            raise MediaRefused("unavailable", "the file's address is not on Slack's file host")
        return files.download(self._http, attachment.url, limits,
                              headers={"Authorization": f"Bearer {self.config.bot_token}"})

    def parse_interaction(self, payload: dict[str, Any]) -> list[InboundMessage]:
        """A `block_actions` payload pressing one of our decision buttons; [] for anything else."""
        if payload.get("type") != "block_actions":
            return []
        actions = payload.get("actions")
        action = actions[0] if isinstance(actions, list) and actions and isinstance(actions[0], dict) else {}
        data = buttons.valid_data(action.get("value"))
        if not data or not str(action.get("action_id") or "").startswith(ACTION_PREFIX):
            return []
        user = need_object(payload, "user", "payload")
        channel = need_id(need_object(payload, "channel", "payload"), "id", "payload.channel")
        message_ts = optional_text(optional_object(payload, "container"), "message_ts") or \
            optional_text(optional_object(payload, "message"), "ts")
        trigger = need_id(payload, "trigger_id", "payload")
        user_id = need_id(user, "id", "payload.user")
        return [InboundMessage(
            channel=self.name, event_id=f"press:{trigger}", message_id=message_ts, chat_id=channel,
            chat_type=GROUP, user_id=user_id, user_name=display_name(user.get("name"), user.get("username")),
            text=buttons.PRESS_TEXT, mentioned=True, press=data,
            reply_context={"channel": channel, "pressed_ts": message_ts, "presser": user_id})]

    def acknowledge(self, req: WebRequest, accepted: list[InboundMessage], duplicates: int) -> WebResponse:
        if _is_interaction(req):
            return WebResponse(200, "")     # the answer comes from the worker (chat.update / ephemeral)
        return super().acknowledge(req, accepted, duplicates)

    # -- outbound -------------------------------------------------------------------------
    def send(self, reply: Reply) -> None:
        ctx = reply.reply_context
        answer = buttons.press_answer(ctx)
        if answer == buttons.PRIVATE:
            self._call("chat.postEphemeral", {"channel": ctx.get("channel") or reply.chat_id,
                                              "user": ctx.get("presser"), "text": _text(reply)})
            return
        if answer == buttons.UPDATE:
            text = _text(reply)
            self._call("chat.update", {"channel": ctx.get("channel") or reply.chat_id, "ts": ctx.get("pressed_ts"),
                                       "text": text, "blocks": [_section(text)]})
            return
        if reply.file:
            self._send_file(reply)
            return
        self._call("chat.postMessage", self._message(reply))

    def _message(self, reply: Reply) -> dict[str, Any]:
        ctx = reply.reply_context
        text = _text(reply)
        body: dict[str, Any] = {"channel": ctx.get("channel") or reply.chat_id, "text": text,
                                "mrkdwn": reply.format == "markdown"}
        if ctx.get("thread_ts"):
            body["thread_ts"] = ctx["thread_ts"]
        offered = buttons.buttons_of(ctx)
        if offered:
            body["blocks"] = [_section(text), {"type": "actions", "elements": [
                {"type": "button", "text": {"type": "plain_text", "text": b["label"][:75]},
                 "action_id": f"{ACTION_PREFIX}{i}", "value": b["data"], "style": "primary" if b["approve"] else "danger"}
                for i, b in enumerate(offered)]}]
        return body

    # -- replies shown while written: a message posted, then updated ---------------------------
    typing_interval = 60.0      # the assistant status lasts until the reply (or two minutes)

    def can_preview(self, reply: Reply) -> bool:
        return True

    def start_preview(self, reply: Reply) -> str:
        data = self._call("chat.postMessage", self._message(reply))
        return f"{data.get('channel') or self._message(reply)['channel']} {data.get('ts') or ''}"

    def update_preview(self, reply: Reply, handle: str) -> None:
        channel, _, ts = handle.partition(" ")
        body = self._message(reply)
        body.pop("thread_ts", None)
        self._call("chat.update", {**body, "channel": channel, "ts": ts})

    def typing(self, reply: Reply) -> None:
        """The assistant thread's status ("is typing..."); Slack refuses it outside assistant
        threads, and then it is not asked again for this reply."""
        ctx = reply.reply_context
        self._call("assistant.threads.setStatus", {"channel_id": ctx.get("channel") or reply.chat_id,
                                                   "thread_ts": ctx.get("thread_ts") or "", "status": "is typing..."})

    def _send_file(self, reply: Reply) -> None:
        """Files upload v2: getUploadURLExternal, the bytes to that URL (Slack's file host only),
        then completeUploadExternal shares the file in the chat (in the thread)."""
        data, name = reply.file_bytes(), reply.file.get("name") or "file"
        ticket = self._call("files.getUploadURLExternal", form={"filename": name, "length": str(len(data))})
        upload_url, file_id = str(ticket.get("upload_url") or ""), str(ticket.get("file_id") or "")
        if not file_id or not files.on_hosts(upload_url, FILE_HOSTS, self.config.api_base):
            raise DeliveryError("Slack answered an upload URL off its file host", retryable=False)
        resp = http.exchange(self._http, "POST", upload_url, data=data, timeout=self.config.timeout,
                             headers={"Content-Type": "application/octet-stream"})
        http.raise_for_status(resp, upload_url)
        ctx = reply.reply_context
        complete: dict[str, Any] = {"files": [{"id": file_id, "title": name}],
                                    "channel_id": ctx.get("channel") or reply.chat_id}
        if ctx.get("thread_ts"):
            complete["thread_ts"] = ctx["thread_ts"]
        self._call("files.completeUploadExternal", complete)

    def _call(self, method: str, body: dict[str, Any] | None = None,
              form: dict[str, str] | None = None) -> dict[str, Any]:
        """One Web API call with the bot token, `body` as JSON (or `form` as form fields);
        DeliveryError unless Slack answers ok=true."""
        url = f"{self.config.api_base}/{method}"
        sending = {"data": form} if form is not None else {"json": body}
        resp = http.exchange(self._http, "POST", url, timeout=self.config.timeout,
                             headers={"Authorization": f"Bearer {self.config.bot_token}"}, **sending)
        data = http.json_body(resp)
        if resp.status_code < 400 and data.get("ok") is True:
            return data
        error = str(data.get("error") or "")[:100]
        retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        if resp.status_code >= 400:
            http.raise_for_status(resp, url, error, retry_after)
        if error in _AUTH_ERRORS:
            error += " (check channels.slack.bot_token and the app's chat:write scope)"
        raise http.error_for(_RETRYABLE_ERRORS.get(error, 400), url, error or "answer without ok=true",
                             retry_after)


def _is_interaction(req: WebRequest) -> bool:
    """Slack's interactivity request: a form with one field, payload (events are JSON)."""
    return req.body.startswith(b"payload=")


def _interaction(req: WebRequest) -> dict[str, Any]:
    fields = parse_qs(req.body.decode("utf-8", "replace"), max_num_fields=4)
    payload = load_json(fields.get("payload", [""])[0], "payload")
    if not isinstance(payload, dict):
        raise PayloadError("the interactivity payload must be a JSON object")
    return payload


def _text(reply: Reply) -> str:
    return markup.to_slack_mrkdwn(reply.text) if reply.format == "markdown" else markup.slack_plain(reply.text)


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text[:SECTION_LIMIT]}}


def _authorized_bot(data: dict[str, Any]) -> str:
    """The bot's user id as Slack states it in the event's `authorizations`."""
    authorizations = data.get("authorizations")
    for auth in authorizations if isinstance(authorizations, list) else []:
        if isinstance(auth, dict) and auth.get("is_bot") and isinstance(auth.get("user_id"), str):
            return auth["user_id"]
    return ""


_LEADING_MENTION = re.compile(r"^\s*<@[A-Z0-9]+(?:\|[^>]*)?>")


def _mention_of(user: str) -> re.Pattern[str]:
    """`<@U123>` or `<@U123|name>`: how Slack writes a mention of one user in message text."""
    return re.compile(rf"<@{re.escape(user)}(?:\|[^>]*)?>")


def _clean(text: str, bot_user: str, strip_first: bool) -> str:
    """The text without the bot's mention, with Slack's &amp; &lt; &gt; turned back into characters."""
    if bot_user:
        text = _mention_of(bot_user).sub("", text)
    elif strip_first:
        text = _LEADING_MENTION.sub("", text)
    text = re.sub(r"[ \t]{2,}", " ", text).strip()
    return text.replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")


def _attachments(files: Any) -> list[Attachment]:
    if not isinstance(files, list):
        return []
    return [Attachment(kind=_kind(f), name=str(f.get("name") or "")[:200],
                       url=str(f.get("url_private") or "")[:2000], key=str(f.get("id") or "")[:100],
                       mime=str(f.get("mimetype") or "")[:100], size=_size(f.get("size")))
            for f in files if isinstance(f, dict)]


def _kind(file: dict[str, Any]) -> str:
    """A voice clip recorded in Slack is `subtype: slack_audio`; other audio is a file like any."""
    if file.get("subtype") == "slack_audio":
        return "voice"
    return attachment_kind(str(file.get("mimetype") or ""))


def _size(value: Any) -> int:
    return value if isinstance(value, int) and value > 0 else 0
