"""Fetching a file a user sent from the platform's own file API: streamed, stopped at the size cap,
and only from the hosts the channel names (never whatever URL a message carries).

Every failure leaves as MediaRefused: too_large at the cap, unavailable for a network error or an
error answer. Reasons name the host only: some file URLs carry the bot's token in their path.
"""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any
import requests
from urllib3.util import parse_url
from urllib3.exceptions import LocationParseError

from ...errors import MediaRefused

READ_BYTES = 65536


@dataclass(frozen=True)
class FetchLimits:
    """How much one file may cost: bytes (the stream stops past it) and seconds, reading included."""

    max_bytes: int
    timeout: float = 30.0


def too_large(limit: int) -> MediaRefused:
    return MediaRefused("too_large", f"the file is larger than {limit} bytes")


def download(session: requests.Session, url: str, limits: FetchLimits, *, method: str = "GET",
             errors_as_json: bool = False, **kwargs: Any) -> bytes:
    """The body of `url`, read as it arrives and abandoned once it passes `limits.max_bytes` (a
    declared Content-Length past it is refused before reading). Redirects are not followed.
    `errors_as_json`: the platform answers a refusal with 200 and a JSON body (WeCom, Feishu)."""
    deadline = time.monotonic() + limits.timeout
    try:
        resp = session.request(method, url, stream=True, allow_redirects=False,
                               timeout=(min(5.0, limits.timeout), limits.timeout), **kwargs)
    except requests.RequestException as exc:
        raise MediaRefused("unavailable", f"could not reach {host(url)}: {type(exc).__name__}") from None
    with resp:
        if resp.status_code != 200:
            raise MediaRefused("unavailable", f"{host(url)} answered {resp.status_code}")
        if errors_as_json and resp.headers.get("Content-Type", "").startswith("application/json"):
            raise MediaRefused("unavailable", f"{host(url)} would not give the file")
        declared = resp.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limits.max_bytes:
            raise too_large(limits.max_bytes)
        return _read_capped(resp, url, limits.max_bytes, deadline)


def _read_capped(resp: requests.Response, url: str, limit: int, deadline: float) -> bytes:
    parts, size = [], 0
    try:
        for part in resp.iter_content(READ_BYTES):
            size += len(part)
            if size > limit:
                raise too_large(limit)
            if time.monotonic() > deadline:
                raise MediaRefused("unavailable", f"{host(url)} was too slow sending the file")
            parts.append(part)
    except requests.RequestException as exc:
        raise MediaRefused("unavailable", f"the file from {host(url)} broke off: {type(exc).__name__}") from None
    return b"".join(parts)


def refused(exc: Exception) -> MediaRefused:
    """A failed call for a file's address or token (DeliveryError) as the refusal of the file."""
    return MediaRefused("unavailable", str(getattr(exc, "reason", "") or type(exc).__name__))


def host(url: str) -> str:
    try:
        return parse_url(url).host or "the platform"
    except LocationParseError:
        return "the platform"


def on_hosts(url: str, hosts: tuple[str, ...], own_base: str) -> bool:
    """Whether `url` is https on one of `hosts` (or a subdomain of one), or on the channel's own
    `api_base` origin (where tests put a fake platform). Parsed with the parser requests uses."""
    try:
        parts, own = parse_url(url), parse_url(own_base)
    except LocationParseError:
        return False
    if not parts.host or parts.auth or "\\" in url:
        return False
    if own.host and (parts.scheme, parts.host, parts.port) == (own.scheme, own.host, own.port):
        return True
    name = parts.host.lower()
    return parts.scheme == "https" and any(name == h or name.endswith("." + h) for h in hosts)
