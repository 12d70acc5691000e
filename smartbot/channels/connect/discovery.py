"""The one HTTP call before a websocket opens: ask the platform where to connect.

Slack's `apps.connections.open` and Discord's `/gateway/bot` both answer JSON with the socket's URL
(and Discord the identify budget). Failures come back as `SocketClosed`, the error every connector
already handles, with the host only in the reason (never the path or a token).
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import requests

from ...errors import DeliveryError
from ...httputil import retry_after_seconds
from ..support import http
from .websocket import SocketClosed


@dataclass(frozen=True)
class Answer:
    status: int
    data: dict[str, Any]
    retry_after: float | None


def ask(session: requests.Session, method: str, url: str, *, headers: dict[str, str],
        timeout: tuple[float, float]) -> Answer:
    """The platform's answer, whatever its status; SocketClosed when it could not be reached."""
    try:
        resp = http.exchange(session, method, url, headers=headers, timeout=timeout)
    except DeliveryError as exc:
        raise SocketClosed(exc.reason) from None
    return Answer(resp.status_code, http.json_body(resp), retry_after_seconds(resp.headers.get("Retry-After")))
