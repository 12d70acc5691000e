"""WeCom's AI bot (智能机器人) frames: what its messages and card presses say, and the commands a reply sends.

The connection is held by one process (channels/connect/wecom.py), which lends a sender here
(`hold`): a callable that sends one command frame and returns WeCom's answer to its req_id.

Buttons: the approvers' notice is a `button_interaction` template card pushed to the chat
(aibot_send_msg), its button keys the press's data, its task id the reply's delivery id. A press is
an `aibot_event_callback` whose event is `template_card_event` (`event_key`, `task_id`), keyed on
its msgid; the card is updated by answering that callback's req_id with aibot_respond_update_msg
(`update_template_card`, within WeCom's few seconds): the decision in place of the buttons.
"""
from __future__ import annotations

import secrets
import time
from typing import Any, Callable

from ...messages import Attachment, Reply
from . import buttons

# The AI bot connection held in this process, by channel name: a callable that sends one command
# frame and returns WeCom's answer to it (raising DeliveryError when it could not be sent or answered).
AiBotSender = Callable[[dict[str, Any]], dict[str, Any]]
_SOCKETS: dict[str, AiBotSender] = {}
_MEDIA = {"image": "image", "file": "file", "video": "video"}
CARD_EVENT = "template_card_event"
TITLE_LIMIT, SUBTITLE_LIMIT, BUTTON_TEXT_LIMIT, QUOTE_LIMIT = 26, 112, 10, 1500   # what WeCom shows of each


def hold(channel: str, sender: AiBotSender) -> None:
    _SOCKETS[channel] = sender


def release(channel: str, sender: AiBotSender) -> None:
    if _SOCKETS.get(channel) is sender:
        del _SOCKETS[channel]


def sender_of(channel: str) -> AiBotSender | None:
    return _SOCKETS.get(channel)


def new_req_id(prefix: str) -> str:
    """A command's req_id as WeCom's SDKs make them: prefix, milliseconds, random hex."""
    return f"{prefix}_{int(time.time() * 1000)}_{secrets.token_hex(4)}"


def stream_frame(reply: Reply, stream_id: str, finish: bool) -> dict[str, Any]:
    """The AI bot's answer to a message callback as a stream: the whole text so far under one id;
    `finish` ends it (a streamed reply is shown growing, then final)."""
    return {"cmd": "aibot_respond_msg", "headers": {"req_id": str(reply.reply_context.get("req_id"))},
            "body": {"msgtype": "stream", "stream": {"id": stream_id, "finish": finish, "content": reply.text}}}


def push_frame(chat: str, body: dict[str, Any]) -> dict[str, Any]:
    """A message pushed to a chat (no callback to answer): markdown or a template card."""
    return {"cmd": "aibot_send_msg", "headers": {"req_id": new_req_id("aibot_send_msg")},
            "body": {"chatid": chat, **body}}


def button_card(reply: Reply, offered: list[dict[str, Any]]) -> dict[str, Any]:
    """A button_interaction card: the notice, and one button per decision (its key the press's data)."""
    return {"msgtype": "template_card", "template_card": {
        "card_type": "button_interaction", "main_title": {"title": _title(reply.text)},
        "sub_title_text": reply.text[:SUBTITLE_LIMIT], "task_id": _task_id(reply),
        "button_list": [{"text": b["label"][:BUTTON_TEXT_LIMIT], "style": 1 if b["approve"] else 2, "key": b["data"]}
                        for b in offered]}}


def decided_frame(reply: Reply) -> dict[str, Any]:
    """The pressed card replaced, for everyone in the chat, by one without buttons showing the decision."""
    ctx = reply.reply_context
    first, _, rest = reply.text.partition("\n")
    card: dict[str, Any] = {"card_type": "text_notice", "main_title": {"title": _title(reply.text)},
                            "sub_title_text": first[:SUBTITLE_LIMIT], "task_id": str(ctx.get("task_id") or "")[:128]}
    if rest.strip():            # a command's output, below the decision
        card["quote_area"] = {"type": 0, "quote_text": rest.strip()[:QUOTE_LIMIT]}
    return {"cmd": "aibot_respond_update_msg", "headers": {"req_id": str(ctx.get("event_req_id") or "")},
            "body": {"response_type": "update_template_card",
                     "template_card": card}}


def press_of(body: dict[str, Any]) -> tuple[str, str] | None:
    """(press data, task id) of a template_card_event pressing one of our buttons; None for any
    other event (entering the chat, feedback, a card that is not ours)."""
    event = body.get("event") if isinstance(body.get("event"), dict) else {}
    if event.get("eventtype") != CARD_EVENT:
        return None
    card = event.get(CARD_EVENT) if isinstance(event.get(CARD_EVENT), dict) else {}
    data, task = buttons.valid_data(card.get("event_key")), card.get("task_id")
    if not data:
        return None
    return data, task[:128] if isinstance(task, str) else ""


def content(body: dict[str, Any]) -> tuple[str, list[Attachment]]:
    """The text and attachments of an AI bot message: text, voice (WeCom's transcript), image,
    file, video, and mixed (text and images in one message)."""
    kind = body.get("msgtype")
    items = body.get("mixed", {}).get("msg_item") if kind == "mixed" and isinstance(body.get("mixed"), dict) \
        else [body]
    texts, attachments = [], []
    for item in items if isinstance(items, list) else []:
        item_kind = item.get("msgtype") if isinstance(item, dict) else None
        part = item.get(item_kind) if item_kind else None
        if not isinstance(part, dict):
            continue
        if item_kind in ("text", "voice") and isinstance(part.get("content"), str):
            texts.append(part["content"].strip())
        elif item_kind in _MEDIA and isinstance(part.get("url"), str):
            # The file at `url` is encrypted with the message's own `aeskey` (kept as the key).
            attachments.append(Attachment(_MEDIA[item_kind], name=str(part.get("filename") or "")[:200],
                                          url=part["url"][:2000], key=str(part.get("aeskey") or "")[:100]))
    return "\n".join(t for t in texts if t), attachments


def _title(text: str) -> str:
    return text.split("\n", 1)[0].split(":", 1)[0][:TITLE_LIMIT] or "SmartBot"


def _task_id(reply: Reply) -> str:
    return (reply.delivery_id or new_req_id("card"))[:128]
