"""Images and files for the reply: data URLs in a model's answer (as markdown images or bare) or in a
tool's output, and the image items a tool hands back ({"name", "mime", "data": base64}, MCP image
content), taken out to be uploaded by the channel. A text keeps a short label in each one's place.
Only types whose bytes are checked (images, PDF), only up to the size cap, and at most MAX_FILES for
the whole reply; anything else stays text (or, for an item, is dropped)."""
from __future__ import annotations

import base64
import binascii
import re
from typing import Any, Iterable

from . import sniff

DATA_URL = re.compile(r"(!\[([^\]\n]{0,200})\]\()?data:([\w.+-]+/[\w.+-]+);base64,([A-Za-z0-9+/=]{16,})(\))?")
MAX_FILES = 4
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
              "application/pdf": "pdf"}


def take_files(text: str, max_bytes: int, have: int = 0) -> tuple[str, list[dict[str, str]]]:
    """(the text with each usable data URL replaced by a label, the files as {"name", "mime", "data"}),
    numbered after the `have` files the reply already carries, and no more than MAX_FILES in all."""
    files: list[dict[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        markdown, alt, data = match.group(1), match.group(2) or "", match.group(4)
        if have + len(files) >= MAX_FILES or (markdown and not match.group(5)):
            return match.group(0)
        found = _checked(data, alt, have + len(files) + 1, max_bytes)
        if found is None:
            return match.group(0)
        files.append(found)
        return f"[{found['name']}]"

    return DATA_URL.sub(replace, text), files


def tool_files(items: Iterable[Any], max_bytes: int, have: int = 0) -> list[dict[str, str]]:
    """The files among a tool's results ({"name", "mime", "data": base64} items), each checked as a data
    URL is (the declared type is not trusted: the bytes say what it is), numbered after `have`."""
    files: list[dict[str, str]] = []
    for item in items:
        if have + len(files) >= MAX_FILES:
            break
        if not isinstance(item, dict) or not isinstance(item.get("data"), str):
            continue
        name = str(item.get("name") or "").rsplit(".", 1)[0][:200]
        found = _checked(re.sub(r"\s+", "", item["data"]), name, have + len(files) + 1, max_bytes)
        if found is not None:
            files.append(found)
    return files


def _checked(data: str, alt: str, number: int, max_bytes: int) -> dict[str, str] | None:
    """A file from base64 `data`, or None when it is too large, not base64, or of a type not checked."""
    if len(data) * 3 // 4 > max_bytes:
        return None
    try:
        raw = base64.b64decode(data, validate=True)
    except (binascii.Error, ValueError):
        return None
    media_type = sniff.sniff(raw)
    if media_type not in EXTENSIONS or len(raw) > max_bytes:
        return None
    name = f"{_slug(alt) or 'file'}-{number}.{EXTENSIONS[media_type]}"
    return {"name": name, "mime": media_type, "data": base64.b64encode(raw).decode("ascii")}


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40]
