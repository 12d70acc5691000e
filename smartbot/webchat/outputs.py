"""Files in the bot's replies (an image or PDF the model or a tool produced), served to the page of
the chat they were written to and to no other. The file is the reply itself: the outbox row keeps
it until the retention purge, like the reply's text. It is served only as the type its bytes show
(an image, a PDF) or as bytes to download, never as what its name or declared type says, with the
site's `nosniff`, so a file can never act as a page of this site: images inline (the page shows
them), everything else as a download."""
from __future__ import annotations

import base64
import binascii
import json
import re
from urllib.parse import quote

import sqlalchemy as sa
from flask import Response
from sqlalchemy.engine import Connection

from ..messages import Reply
from ..pipeline.media import sniff
from ..storage.tables import Outbox
from ..storage.tables.queues import DONE

_outbox = Outbox.__table__
_UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


def url(reply_id: int) -> str:
    return f"/chat/api/replies/{reply_id}/file"


def described(reply: Reply, reply_id: int) -> dict[str, str] | None:
    """What the page shows of a reply's file (never its bytes): name, type and where to get it."""
    if not reply.file:
        return None
    try:        # the first bytes tell the type: the rest need not be decoded for a page of history
        head = base64.b64decode((reply.file.get("data") or "")[:24] + "==")
    except (binascii.Error, ValueError):
        head = b""
    return {"name": safe_name(reply.file.get("name") or ""), "mime": served_type(head), "url": url(reply_id)}


def find(conn: Connection, chat_key: str, reply_id: int) -> Reply | None:
    """The delivered reply `reply_id` when it carries a file and was written to the chat `chat_key`;
    None otherwise (another chat's reply is as unknown as none)."""
    payload = conn.execute(sa.select(_outbox.c.payload).where(
        _outbox.c.id == reply_id, _outbox.c.order_key == chat_key,
        _outbox.c.status == DONE)).scalar()
    if payload is None:
        return None
    reply = Reply.from_record(json.loads(payload))
    return reply if reply.file else None


def response(reply: Reply) -> Response:
    data = reply.file_bytes()
    mime = served_type(data)
    name = safe_name(reply.file.get("name") or "")
    disposition = "inline" if sniff.family(mime) == "image" else "attachment"
    resp = Response(data, content_type=mime)
    resp.headers["Content-Disposition"] = f"{disposition}; filename=\"{name}\"; filename*=UTF-8''{quote(name)}"
    resp.headers["X-Content-Type-Options"] = "nosniff"
    resp.headers["Cache-Control"] = "private, max-age=3600"
    return resp


def served_type(data: bytes) -> str:
    """The type the bytes show when it is one SmartBot checks (images, PDF); else a plain download."""
    return sniff.sniff(data) or "application/octet-stream"


def safe_name(name: str) -> str:
    return _UNSAFE.sub("-", name).strip("-.")[:100] or "file"
