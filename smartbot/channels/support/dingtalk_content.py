"""What a DingTalk robot callback says: its text and attachments, and field checks. Read
defensively: a callback is JSON from the network, so any field may be missing or of another type."""
from __future__ import annotations

from typing import Any

from ...errors import PayloadError
from ...messages import Attachment


def content(data: dict[str, Any]) -> tuple[str, list[Attachment]]:
    """(text, attachments) of a callback; the robot's @mention is already removed from the text."""
    kind = data.get("msgtype")
    inner = data.get("content") if isinstance(data.get("content"), dict) else {}
    if kind == "text":
        text = data.get("text") if isinstance(data.get("text"), dict) else {}
        return text_of(text.get("content")).strip(), []
    if kind == "richText":
        parts, attachments = [], []
        items = inner.get("richText")
        for item in items if isinstance(items, list) else []:
            if isinstance(item, dict) and text_of(item.get("text")):
                parts.append(text_of(item["text"]))
            elif isinstance(item, dict) and item.get("downloadCode"):
                attachments.append(Attachment("image", key=text_of(item.get("downloadCode"))))
        return "".join(parts).strip(), attachments
    if kind == "audio":       # DingTalk transcribes voice messages
        return text_of(inner.get("recognition")).strip(), []
    if kind in ("picture", "file", "video"):
        attachment = Attachment({"picture": "image"}.get(kind, kind), name=text_of(inner.get("fileName")),
                                key=text_of(inner.get("downloadCode")))
        return attachment.placeholder, [attachment]
    return "", []


def title(text: str) -> str:
    """A markdown message's title (shown in notifications): its first line, without markup."""
    first = next((line for line in text.splitlines() if line.strip()), "")
    return first.strip().lstrip("#>*-` ").strip()[:30] or "SmartBot"


def required(data: dict[str, Any], key: str) -> str:
    value = data.get(key)
    if not isinstance(value, str) or not value or len(value) > 200:
        raise PayloadError(f"missing field: {key}")
    return value


def text_of(value: Any) -> str:
    return value if isinstance(value, str) else ""

