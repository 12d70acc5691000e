"""Masks secrets in anything that is about to be logged, audited or stored: fields whose names look
secret, text that names a secret (`password=...`, `api_key: ...`, `Authorization: Bearer ...`, a
URL's password), and known secret values wherever they appear.

One masking serves the audit log, the log files, the outbox and workflow runs (command output
passes `mask_text` before anyone stores it). Plain functions, no Flask and no other layer; it must
never log or return what it masked.
"""
from __future__ import annotations

import re
from typing import Any, Iterable

SECRET_KEY_PATTERN = re.compile(r"(secret|token(?!s)|password|passwd|api[_-]?key|authorization|signature|"
                                r"encrypt|aes[_-]?key|credential|private[_-]?key)", re.I)
MASK = "***"
# Shorter values are not masked where they appear in text: "1" or "on" would mask half the output.
MIN_MASKED_LENGTH = 4
# `<name>` `=`|`:` `<value>`, where the name contains one of the words above (quotes allowed around
# both, as in JSON, YAML, env files, command lines and query strings). Every repeat is bounded and
# the match starts at the word itself, so a megabyte of hostile output is scanned in linear time.
_NAMED_VALUE = re.compile(
    r"(?P<key>(?:" + SECRET_KEY_PATTERN.pattern + r")[A-Za-z0-9_.\-]{0,64}+)"
    r"(?P<sep>[\"']?[ \t]{0,8}+[:=][ \t]{0,8}+[\"']?)"
    r"(?P<value>(?:(?:Bearer|Basic|Token|Bot)[ \t]{1,8})?[^\s\"',;&<>}\]]{1,4096}+)", re.I)
_URL_PASSWORD = re.compile(r"(?P<head>\b[a-z][a-z0-9+.\-]{0,20}+://[^/\s:@]{0,128}+:)"
                           r"(?P<value>[^@\s/]{1,256})(?P<tail>@)", re.I)


def redact(value: Any) -> Any:
    """A copy of `value` with every field whose name looks secret replaced by a mask, and every
    text masked as `mask_text` does.

    Fields named like `*_env` hold the *name* of an environment variable, not a secret, and stay.
    """
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            name = str(key)
            if SECRET_KEY_PATTERN.search(name) and not name.endswith("_env") and item not in ("", None):
                out[key] = MASK
            else:
                out[key] = redact(item)
        return out
    if isinstance(value, (list, tuple)):
        return [redact(v) for v in value]
    if isinstance(value, str):
        return mask_text(value)
    return value


def mask_text(text: str, values: Iterable[str] = ()) -> str:
    """`text` with each of `values` (secrets known to the caller), the value of anything that names a
    secret, and a URL's password replaced by MASK."""
    if not text:
        return text
    known = sorted({v for v in values if isinstance(v, str) and len(v) >= MIN_MASKED_LENGTH}, key=len, reverse=True)
    if known:
        text = re.sub("|".join(re.escape(v) for v in known), MASK, text)
    text = _NAMED_VALUE.sub(_mask_named, text)
    return _URL_PASSWORD.sub(lambda m: m.group("head") + MASK + m.group("tail"), text)


def _mask_named(match: re.Match[str]) -> str:
    key = match.group("key")
    if key.lower().endswith("_env") or match.group("value") == MASK:
        return match.group(0)
    return key + match.group("sep") + MASK
