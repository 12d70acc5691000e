"""Images and files in a model's answer (data URLs, as markdown images or bare) taken out of its
text, to be uploaded by the channel: the text keeps a short label in their place. Only types
whose bytes are checked (images, PDF) and only up to the size cap; anything else stays text."""
from __future__ import annotations

import base64
import binascii
import re

from . import sniff

DATA_URL = re.compile(r"(!\[([^\]\n]{0,200})\]\()?data:([\w.+-]+/[\w.+-]+);base64,([A-Za-z0-9+/=]{16,})(\))?")
MAX_FILES = 4
EXTENSIONS = {"image/png": "png", "image/jpeg": "jpg", "image/gif": "gif", "image/webp": "webp",
              "application/pdf": "pdf"}


def take_files(text: str, max_bytes: int) -> tuple[str, list[dict[str, str]]]:
    """(the text with each usable data URL replaced by a label, the files as {"name", "mime", "data"})."""
    files: list[dict[str, str]] = []

    def replace(match: re.Match[str]) -> str:
        markdown, alt, data = match.group(1), match.group(2) or "", match.group(4)
        if len(files) >= MAX_FILES or len(data) * 3 // 4 > max_bytes or (markdown and not match.group(5)):
            return match.group(0)
        try:
            raw = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return match.group(0)
        media_type = sniff.sniff(raw)
        if media_type not in EXTENSIONS:
            return match.group(0)
        name = f"{_slug(alt) or 'file'}-{len(files) + 1}.{EXTENSIONS[media_type]}"
        files.append({"name": name, "mime": media_type, "data": base64.b64encode(raw).decode("ascii")})
        return f"[{name}]"

    return DATA_URL.sub(replace, text), files


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-")[:40]
