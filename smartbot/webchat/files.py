"""What the web chat's upload endpoint accepts: the same caps and checks as a file from any
platform ([media] max_bytes, the type read from the bytes), and only the kinds SmartBot reads:
images, voice recordings, PDFs and text files. A refusal says why and is audited."""
from __future__ import annotations

import re
import secrets

from .. import audit
from ..errors import MediaRefused
from ..messages import Attachment
from ..pipeline.media import sniff, text as texts
from ..pipeline.media.intake import checked
from ..storage import uploads
from ..storage.db import Database

KEY = re.compile(r"[A-Za-z0-9_-]{20,64}\Z")
_KINDS = {"image": "image", "audio": "voice", "pdf": "file"}


def accept(db: Database, chat_id: str, name: str, declared: str, data: bytes, max_bytes: int) -> uploads.Upload:
    """Store an upload of `chat_id`'s; MediaRefused (audited) when it is too large, not what it
    claims, or of a kind SmartBot does not read."""
    name = re.sub(r"[\x00-\x1f/\\\\]", "_", name or "file")[:200]
    try:
        if len(data) > max_bytes:
            raise MediaRefused("too_large", f"the file is larger than {max_bytes} bytes")
        mime = _type_of(name, declared, data)
    except MediaRefused as exc:
        with db.write() as conn:
            audit.record(conn, "media.refused", f"webchat:{chat_id}", f"webchat:{chat_id}", "denied",
                         {"kind": "upload", "name": name, "code": exc.code, "reason": exc.reason})
        raise
    key = secrets.token_urlsafe(24)
    uploads.put(db, key, chat_id, name, mime, data)
    return uploads.Upload(key, name, mime, len(data))


def attachment(upload: uploads.Upload) -> Attachment:
    """The attachment a message naming this upload carries (its kind from the checked type)."""
    return Attachment(_KINDS.get(sniff.family(upload.mime), "file"), name=upload.name, key=upload.key,
                      mime=upload.mime, size=upload.size)


def _type_of(name: str, declared: str, data: bytes) -> str:
    media_type = checked(Attachment("file", name=name, mime=declared[:100]), data)
    if media_type:
        return media_type
    if texts.is_text_name(name) and texts.plain_text(data) is not None:
        return "text/plain"
    raise MediaRefused("not_supported", "only images, voice recordings, PDFs and text files are read")
