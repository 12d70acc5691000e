"""Signed requests for the generic channel, computed here from the contract (not with our code)."""
from __future__ import annotations

import hashlib
import hmac
import json
import time
from typing import Any


def signature(secret: str, timestamp: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256).hexdigest()


def generic_request(secret: str, payload: Any, timestamp: int | None = None) -> tuple[bytes, dict[str, str]]:
    body = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
    ts = str(int(time.time()) if timestamp is None else timestamp)
    return body, {"Content-Type": "application/json", "X-SmartBot-Timestamp": ts,
                  "X-SmartBot-Signature": signature(secret, ts, body)}
