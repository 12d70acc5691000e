"""A reply's file uploaded to a platform's temporary-media API, for its media id.

DingTalk's `POST {oapi}/media/upload` and WeCom's `POST /cgi-bin/media/upload` take the same form:
the access token and `type` (image or file) in the query, the bytes as the multipart field
`media`, and an answer `{errcode, errmsg, media_id}`. The token rides in the URL, so errors
here name the platform only, never the URL.
"""
from __future__ import annotations

from typing import Any

import requests

from ...errors import DeliveryError
from . import http
from .open_api import TokenRejected, json_object

TOKEN_CODES = {40014, 41001, 42001}
BUSY_CODES = {-1, 45009, 45033, 90018}
IMAGE_TYPES = ("image/png", "image/jpeg", "image/gif")      # what both send as an image message


def kind_of(file: dict[str, str]) -> str:
    """"image" for an image both platforms show as one, else "file"."""
    return "image" if file.get("mime") in IMAGE_TYPES else "file"


def upload(session: requests.Session, url: str, token: str, file: dict[str, str], data: bytes,
           timeout: tuple[float, float], platform: str) -> str:
    """The media id of the uploaded file; DeliveryError (TokenRejected for a stale token) otherwise."""
    name, mime = file.get("name") or "file", file.get("mime") or "application/octet-stream"
    resp = http.exchange(session, "POST", url, params={"access_token": token, "type": kind_of(file)},
                         files={"media": (name, data, mime)}, timeout=timeout)
    if resp.status_code >= 500 or resp.status_code in (408, 429):
        raise DeliveryError(f"{platform}'s media upload answered {resp.status_code}", retryable=True)
    answer: dict[str, Any] = json_object(resp, platform)
    code = answer.get("errcode", 0)
    media_id = answer.get("media_id")
    if code == 0 and isinstance(media_id, str) and media_id:
        return media_id
    if code in TOKEN_CODES:
        raise TokenRejected(f"{platform} rejected the access token for the upload (errcode {code})")
    raise DeliveryError(f"{platform} refused the file upload (errcode {code}: {str(answer.get('errmsg') or '')[:120]})",
                        retryable=code in BUSY_CODES)
