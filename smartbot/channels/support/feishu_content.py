"""Feishu message content: the JSON string in im.message.receive_v1 turned into text + attachments.

Text and rich-text (post) messages give text; images, files, audio and video are noted as
attachments by their platform keys (downloading them needs the message resource API, which a
handler may call later). Mentions arrive as `@_user_N` placeholders listed in `mentions`: the
bot's own are removed (that is how it was addressed), others become `@name`. Nothing here
trusts the content's shape: anything unexpected is a PayloadError or is skipped.
"""
from __future__ import annotations

import re
from typing import Any

from ...errors import PayloadError
from ...messages import Attachment
from ..base import load_json

_FILE_KINDS = {"file": "file", "audio": "voice", "media": "video"}    # Feishu's audio messages are voice notes
_SPACES = re.compile(r"[ \t]{2,}")


def read_content(message_type: Any, raw: Any) -> tuple[str, list[Attachment]]:
    """(text, attachments) of one message; ("", []) for kinds that carry nothing to answer."""
    content = load_json(raw, "event.message.content") if isinstance(raw, str) else None
    if not isinstance(content, dict):
        raise PayloadError("event.message.content must be a JSON object in a string")
    if message_type == "text":
        return _text(content.get("text")), []
    if message_type == "post":
        return _post(content)
    if message_type == "image":
        return "", [Attachment("image", key=_text(content.get("image_key")))]
    if isinstance(message_type, str) and message_type in _FILE_KINDS:
        return "", [Attachment(_FILE_KINDS[message_type], name=_text(content.get("file_name")),
                               key=_text(content.get("file_key")))]
    return "", []   # stickers, cards, shared chats, system messages


def resolve_mentions(text: str, mentions: Any, bot_open_id: str, bot_name: str) -> tuple[str, bool]:
    """Replace mention placeholders; True when one of them is the bot.

    Without bot_open_id or bot_name every mention is taken to be the bot's (in groups Feishu
    delivers only messages that mention the bot, unless the app may read all group messages).
    """
    mentioned = False
    entries = [m for m in mentions if isinstance(m, dict)] if isinstance(mentions, list) else []
    # Longest keys first, so "@_user_1" does not eat the start of "@_user_10".
    for m in sorted(entries, key=lambda m: -len(_text(m.get("key")))):
        key = _text(m.get("key"))
        if not key:
            continue
        if _is_bot(m, bot_open_id, bot_name):
            mentioned = True
            text = re.sub(re.escape(key) + r"[ \t]?", "", text)     # with the space typed after it
        else:
            name = _text(m.get("name"))
            text = text.replace(key, f"@{name}" if name else "")
    return _SPACES.sub(" ", text).strip(), mentioned


def _is_bot(mention: dict[str, Any], bot_open_id: str, bot_name: str) -> bool:
    if not bot_open_id and not bot_name:
        return True
    ids = mention.get("id") if isinstance(mention.get("id"), dict) else {}
    return bool((bot_open_id and ids.get("open_id") == bot_open_id)
                or (bot_name and mention.get("name") == bot_name))


def _post(content: dict[str, Any]) -> tuple[str, list[Attachment]]:
    """Rich text: {"title", "content": [[element, ...], ...]}, possibly under a language key."""
    if "content" not in content:
        content = next((v for v in content.values() if isinstance(v, dict)), {})
    lines = [_text(content.get("title"))] if content.get("title") else []
    attachments: list[Attachment] = []
    paragraphs = content.get("content")
    for paragraph in paragraphs if isinstance(paragraphs, list) else []:
        parts = []
        for element in paragraph if isinstance(paragraph, list) else []:
            if not isinstance(element, dict):
                continue
            tag = element.get("tag")
            if tag in ("text", "a", "md", "code_block"):
                parts.append(_text(element.get("text")))
            elif tag == "at":
                parts.append(_text(element.get("user_id")))
            elif tag == "img":
                attachments.append(Attachment("image", key=_text(element.get("image_key"))))
            elif tag == "media":
                attachments.append(Attachment("video", key=_text(element.get("file_key"))))
        lines.append("".join(parts))
    return "\n".join(line for line in lines if line).strip(), attachments


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""
