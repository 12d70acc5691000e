"""A reply's file on WeCom's AI bot: uploaded over the held long connection, then pushed to the chat.

The AI bot has no HTTP upload: its temporary media is uploaded over the same websocket in three
commands, each answered under its req_id like any other: `aibot_upload_media_init` (type, filename,
total_size, total_chunks, md5; answer body `upload_id`), `aibot_upload_media_chunk` once per chunk
(upload_id, chunk_index from 0, base64_data of at most CHUNK_BYTES raw bytes; at most MAX_CHUNKS)
and `aibot_upload_media_finish` (upload_id; answer body `media_id`, valid three days). The file is
then an `image` or `file` message pushed to the chat (aibot_send_msg naming the media id).

A retry never shows the file twice: only the last command shows anything, and it is retried only when
WeCom answered it with a refusal (nothing shown); sent but unanswered is given up, as for text. An
upload command left unanswered is retried (nothing was shown), and the media id of a finished upload
is kept for the reply's delivery id, so a retry after a refused push does not upload it again.
"""
from __future__ import annotations

import base64
import hashlib
import threading
import time
from collections import OrderedDict
from typing import Any, Callable

from ...errors import DeliveryError
from ...messages import Reply
from . import media_upload

AiBotSender = Callable[[dict[str, Any]], dict[str, Any]]

CHUNK_BYTES = 512 * 1024            # raw bytes per chunk, before base64 (WeCom's limit)
MAX_CHUNKS = 100
IMAGE_MAX_BYTES = 10 * 1024 * 1024  # larger images go as a file message
FILE_MAX_BYTES = 20 * 1024 * 1024
MIN_BYTES = 5                       # WeCom refuses temporary media smaller than this
MEDIA_KEEP_SECONDS = 2 * 24 * 3600  # a kept media id is reused well within its three days
KEPT_UPLOADS = 256

_kept: OrderedDict[str, tuple[str, str, float]] = OrderedDict()   # delivery id -> (kind, media id, until)
_kept_lock = threading.Lock()


def send_file(sender: AiBotSender, chat: str, reply: Reply, new_req_id: Callable[[str], str],
              busy_codes: set[int]) -> None:
    """Upload `reply.file` (or reuse this delivery's finished upload) and push it to `chat`."""
    data = reply.file_bytes()
    if not MIN_BYTES <= len(data) <= FILE_MAX_BYTES:
        raise DeliveryError(f"WeCom's AI bot takes files of {MIN_BYTES} bytes to {FILE_MAX_BYTES // (1024 * 1024)} "
                            f"MiB; this one is {len(data)} bytes", retryable=False)
    kind = media_upload.kind_of(reply.file)
    if kind == "image" and len(data) > IMAGE_MAX_BYTES:
        kind = "file"
    media_id = _kept_upload(reply.delivery_id, kind)
    if media_id is None:
        media_id = upload(sender, kind, reply.file.get("name") or "file", data, new_req_id, busy_codes)
        _keep(reply.delivery_id, kind, media_id)
    answer = sender({"cmd": "aibot_send_msg", "headers": {"req_id": new_req_id("aibot_send_msg")},
                     "body": {"chatid": chat, "msgtype": kind, kind: {"media_id": media_id}}})
    code = answer.get("errcode")
    if code != 0:
        raise DeliveryError(f"WeCom refused the AI bot's {kind} message (errcode {code}: "
                            f"{str(answer.get('errmsg') or '')[:120]})", retryable=code in busy_codes)
    _forget(reply.delivery_id)


def upload(sender: AiBotSender, kind: str, name: str, data: bytes, new_req_id: Callable[[str], str],
           busy_codes: set[int]) -> str:
    """The media id of `data` uploaded in chunks; DeliveryError when WeCom refuses a step."""
    chunks = [data[at:at + CHUNK_BYTES] for at in range(0, len(data), CHUNK_BYTES)]
    if len(chunks) > MAX_CHUNKS:
        raise DeliveryError(f"the file needs more than WeCom's {MAX_CHUNKS} upload chunks", retryable=False)
    started = _command(sender, new_req_id, busy_codes, "aibot_upload_media_init", {
        "type": kind, "filename": name[:200], "total_size": len(data), "total_chunks": len(chunks),
        "md5": hashlib.md5(data).hexdigest()})      # noqa: S324 - WeCom's integrity check, not security
    upload_id = started.get("upload_id")
    if not isinstance(upload_id, str) or not upload_id:
        raise DeliveryError("WeCom started the file upload without an upload_id", retryable=True)
    for index, chunk in enumerate(chunks):
        _command(sender, new_req_id, busy_codes, "aibot_upload_media_chunk", {
            "upload_id": upload_id, "chunk_index": index, "base64_data": base64.b64encode(chunk).decode("ascii")})
    finished = _command(sender, new_req_id, busy_codes, "aibot_upload_media_finish", {"upload_id": upload_id})
    media_id = finished.get("media_id")
    if not isinstance(media_id, str) or not media_id:
        raise DeliveryError("WeCom finished the file upload without a media_id", retryable=True)
    return media_id


def _command(sender: AiBotSender, new_req_id: Callable[[str], str], busy_codes: set[int], cmd: str,
             body: dict[str, Any]) -> dict[str, Any]:
    """One upload command's answer body. Unanswered: retryable (an upload shows nothing)."""
    try:
        answer = sender({"cmd": cmd, "headers": {"req_id": new_req_id(cmd)}, "body": body})
    except DeliveryError as exc:
        raise DeliveryError(f"the file upload was not answered ({exc.reason})", retryable=True) from None
    code = answer.get("errcode")
    if code != 0:
        raise DeliveryError(f"WeCom refused the file upload at {cmd.rsplit('_', 1)[-1]} (errcode {code}: "
                            f"{str(answer.get('errmsg') or '')[:120]})", retryable=code in busy_codes)
    found = answer.get("body")
    return found if isinstance(found, dict) else {}


def _kept_upload(delivery_id: str, kind: str) -> str | None:
    with _kept_lock:
        kept = _kept.get(delivery_id) if delivery_id else None
        if kept is None or kept[0] != kind or kept[2] < time.time():
            return None
        return kept[1]


def _keep(delivery_id: str, kind: str, media_id: str) -> None:
    if not delivery_id:
        return
    with _kept_lock:
        _kept[delivery_id] = (kind, media_id, time.time() + MEDIA_KEEP_SECONDS)
        _kept.move_to_end(delivery_id)
        while len(_kept) > KEPT_UPLOADS:
            _kept.popitem(last=False)


def _forget(delivery_id: str) -> None:
    with _kept_lock:
        _kept.pop(delivery_id, None)
