"""The digest that binds an approval button to its request: a forged or misdirected press fails it.

The digest is an HMAC-SHA256 over the request's id, command and exact arguments, keyed with a key
derived from SmartBot's signing key (an HMAC of a fixed label, as the audit chain derives its key,
so it is never the signing key itself), cut to 8 bytes and written as 11 characters of URL-safe
base64: short enough for Telegram's 64-byte callback_data, long enough that guessing one takes
2^64 tries. A press naming another request, or any request whose command or arguments differ,
does not match. Replays are stopped elsewhere: the inbox's unique key (the platform's callback
id) and the request's compare-and-set decision.
"""
from __future__ import annotations

import base64
import hashlib
import hmac
import json
from typing import Any, Mapping

DERIVE_LABEL = b"smartbot approval buttons v1"
DIGEST_BYTES = 8


def button_key(signing_key: str) -> bytes:
    """The key of approval buttons that belongs to a signing key."""
    return hmac.new(signing_key.encode("utf-8"), DERIVE_LABEL, hashlib.sha256).digest()


def digest(key: bytes, approval_id: int, command: str, args: Mapping[str, Any] | None) -> str:
    exact = json.dumps([int(approval_id), command, dict(args or {})], sort_keys=True, ensure_ascii=False,
                       separators=(",", ":"))
    mac = hmac.new(key, exact.encode("utf-8"), hashlib.sha256).digest()[:DIGEST_BYTES]
    return base64.urlsafe_b64encode(mac).decode("ascii").rstrip("=")


def matches(key: bytes, given: str, approval_id: int, command: str, args: Mapping[str, Any] | None) -> bool:
    return hmac.compare_digest(digest(key, approval_id, command, args).encode(), given.encode("utf-8", "replace"))
