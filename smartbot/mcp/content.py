"""A tools/call result as SmartBot passes it on: text for the model, images as files for the reply.

The model reads text only: text parts as they are; an embedded resource's text under a line naming
it; a resource link, a binary resource or audio as a one-line summary (never its bytes); an image as
a label naming the file the reply carries ({"name", "mime", "data": base64}, as
pipeline/media/output.py hands files to the channels); `structuredContent` as JSON text unless a
text part already says the same (servers are asked to send both). Images are kept only with an
image type, valid base64 and at most MAX_IMAGE_BYTES each, MAX_IMAGES per result; the text is
capped by the caller like command output. Nothing here trusts a length or type the server claims
for the bytes it did not send.
"""
from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any

MAX_IMAGES = 4
MAX_IMAGE_BYTES = 2 * 1024 * 1024
IMAGE_TYPES = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp"}
_SAFE = re.compile(r"[^A-Za-z0-9_-]+")


@dataclass
class Content:
    text: str
    files: list[dict[str, str]] = field(default_factory=list)


def summarise(result: dict[str, Any], tool: str = "tool") -> Content:
    content = Content("")
    parts: list[str] = []
    items = result.get("content")
    for item in items if isinstance(items, list) else []:
        if isinstance(item, dict):
            parts.append(_part(item, content, tool))
    structured = result.get("structuredContent")
    if structured is not None and not _already_said(structured, parts):
        parts.append(json.dumps(structured, ensure_ascii=False, separators=(",", ":"), default=str))
    content.text = "\n".join(p for p in parts if p)
    return content


def _part(item: dict[str, Any], content: Content, tool: str) -> str:
    kind = item.get("type")
    if kind == "text":
        return str(item.get("text", ""))
    if kind == "image":
        return _image(item, content, tool)
    if kind == "audio":
        return f"[audio: {_short(item.get('mimeType'))}, {_decoded_size(item.get('data'))} bytes, not passed on]"
    if kind == "resource" and isinstance(item.get("resource"), dict):
        resource = item["resource"]
        head = f"[resource {_short(resource.get('uri'), 300)} ({_short(resource.get('mimeType'))})]"
        if isinstance(resource.get("text"), str):
            return head + "\n" + resource["text"]
        return f"{head[:-1]}: {_decoded_size(resource.get('blob'))} bytes, not passed on]"
    if kind == "resource_link":
        described = f" - {_short(item.get('description'), 300)}" if item.get("description") else ""
        return (f"[resource link: {_short(item.get('name'), 200)} {_short(item.get('uri'), 300)}"
                f" ({_short(item.get('mimeType'))}){described}]")
    return f"[{_short(kind)} content, not passed on]"


def _image(item: dict[str, Any], content: Content, tool: str) -> str:
    mime = str(item.get("mimeType") or "").lower()
    data = item.get("data")
    size = _decoded_size(data)
    if mime not in IMAGE_TYPES:
        return f"[image of type {_short(mime)}, not passed on]"
    if len(content.files) >= MAX_IMAGES:
        return f"[image: {mime}, {size} bytes, not passed on: at most {MAX_IMAGES} images a result]"
    if size > MAX_IMAGE_BYTES:
        return f"[image: {mime}, {size} bytes, not passed on: larger than {MAX_IMAGE_BYTES} bytes]"
    try:
        raw = base64.b64decode(re.sub(r"\s+", "", str(data)), validate=True)
    except (binascii.Error, ValueError):
        return f"[image: {mime}, not valid base64, not passed on]"
    name = f"{_SAFE.sub('-', tool).strip('-')[:40] or 'tool'}-{len(content.files) + 1}.{IMAGE_TYPES[mime]}"
    content.files.append({"name": name, "mime": mime, "data": base64.b64encode(raw).decode("ascii")})
    return f"[image {name}: {mime}, {len(raw)} bytes, sent with the reply]"


def _already_said(structured: Any, parts: list[str]) -> bool:
    """Whether a text part is the structured value as JSON (or, for FastMCP's {"result": x}, x)."""
    candidates = [structured]
    if isinstance(structured, dict) and list(structured) == ["result"]:
        candidates.append(structured["result"])
    for part in parts:
        try:
            said = json.loads(part)
        except (ValueError, RecursionError):
            said = part
        if any(said == c or part == c for c in candidates):
            return True
    return False


def _decoded_size(data: Any) -> int:
    return len(data) * 3 // 4 if isinstance(data, str) else 0


def _short(value: Any, limit: int = 80) -> str:
    return re.sub(r"[\r\n]+", " ", str(value or "?"))[:limit]
