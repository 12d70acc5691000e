"""Small HTTP helpers shared by channels, model providers and the blueprints (neither of the first
two may import the other): Retry-After, the one parser for request bodies in JSON, a requests
Session that reads the environment once, and the guarded fetch of a URL a user gave (workflow http
steps, knowledge documents): an allow-listed host, no redirect followed, the body read within a cap.

`load_json` is the only way a request body becomes JSON: it never lets the parser recurse past
MAX_JSON_DEPTH (Python's parser recurses once per level and raised RecursionError, a 500, at about a
thousand) and never returns a number that is not finite.
"""
from __future__ import annotations

import email.utils
import itertools
import json
import math
import operator
import re
import time
from typing import Any
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests

from .errors import PayloadError

MAX_JSON_DEPTH = 64
TOO_DEEP = "the request is nested too deeply to handle"     # the answer if a RecursionError ever gets out
_STEPS = bytes.maketrans(b"[{]}", b"\x02\x02\x00\x00")
_NOT_BRACKETS = bytes(b for b in range(256) if b not in b"[]{}")
_SURROGATE_ESCAPE = re.compile(rb"\\u[dD][89a-fA-F]", re.ASCII)


def load_json(raw: bytes | str, what: str = "JSON", *, max_depth: int = MAX_JSON_DEPTH,
              max_bytes: int | None = None) -> Any:
    """Parse a request body (or a part of one) as JSON, or raise PayloadError with the reason.

    Checked before parsing: the size (413 past `max_bytes`) and the nesting depth (a scan of the
    raw bytes outside strings). Refused while parsing: NaN, Infinity and numbers too large for a
    float, and unpaired UTF-16 surrogates (`"\\ud800"`), which JSON allows but UTF-8 cannot store.
    """
    if max_bytes is not None and len(raw) > max_bytes:
        raise PayloadError(f"{what} larger than {max_bytes} bytes", status=413)
    try:
        text, encoded = _text_and_utf8(raw)
        if nested_deeper_than(encoded, max_depth):
            raise PayloadError(f"{what} nested deeper than {max_depth} levels")
        data = _DECODER.decode(text)
    except (ValueError, UnicodeError) as exc:
        raise PayloadError(f"malformed {what}: {exc}") from None
    except RecursionError:       # the scan above makes this unreachable; never a 500 if it is not
        raise PayloadError(f"{what} nested deeper than {max_depth} levels") from None
    if _SURROGATE_ESCAPE.search(encoded) and _has_lone_surrogate(data):
        raise PayloadError(f"{what} holds an unpaired UTF-16 surrogate escape")
    return data


def _text_and_utf8(raw: bytes | str) -> tuple[str, bytes]:
    """The text to parse, and its UTF-8 bytes for the depth scan (JSON may come as UTF-16 or -32)."""
    if isinstance(raw, str):
        return raw, raw.encode("utf-8", "surrogatepass")
    encoding = json.detect_encoding(raw)
    text = raw.decode(encoding, "surrogatepass")
    return text, raw if encoding == "utf-8" else text.encode("utf-8", "surrogatepass")


def nested_deeper_than(raw: bytes, limit: int) -> bool:
    """Whether JSON text opens more than `limit` arrays or objects inside each other, counting only
    brackets outside strings. Exact for the part a parser reads before its first error, and linear
    with no Python step per byte: string operations, then the depth as a running sum (2 per opening
    bracket, 0 per closing one, less 1 per bracket)."""
    if raw.count(b"[") + raw.count(b"{") <= limit:
        return False                 # the common case: too few brackets to be that deep
    if b"\\" in raw:                # escapes: drop escaped backslashes first, then escaped quotes
        raw = raw.replace(b"\\\\", b"").replace(b'\\"', b"")
    outside = b"".join(raw.split(b'"')[::2])       # every other piece between quotes is a string
    steps = outside.translate(_STEPS, _NOT_BRACKETS)
    depth = 0
    for at in range(0, len(steps), 4096):      # in slices, so an attack stops at its first one
        chunk = steps[at:at + 4096]
        if depth + max(map(operator.sub, itertools.accumulate(chunk), range(1, len(chunk) + 1))) > limit:
            return True
        depth += 2 * chunk.count(2) - len(chunk)
    return False


def _finite(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"number out of range: {text[:40]}")
    return value


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


_DECODER = json.JSONDecoder(parse_float=_finite, parse_constant=_no_constant)


def _has_lone_surrogate(value: Any) -> bool:
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def retry_after_seconds(value: str | None) -> float | None:
    """Parse a Retry-After header: delta seconds, or an HTTP date."""
    if not value:
        return None
    value = value.strip()
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


class _NoAuth(requests.auth.AuthBase):
    """No credentials: stands for "netrc has none for this host" so requests does not look again."""

    def __call__(self, r: requests.PreparedRequest) -> requests.PreparedRequest:
        return r


_NO_AUTH = _NoAuth()


class EnvironmentOnceSession(requests.Session):
    """A requests Session that reads the proxy and CA-bundle environment, and ~/.netrc, once per
    scheme and host.

    requests re-reads them on every call (walking os.environ twice, then no_proxy matching; two
    file-system lookups for the netrc file): about a tenth of the CPU of a whole chat turn (model
    call + reply) here. They do not change while the process runs; per-call `proxies` and `auth`
    still go the normal way.
    """

    def __init__(self) -> None:
        super().__init__()
        self._environment: dict[tuple, dict] = {}
        self._netrc: dict[tuple, Any] = {}

    def prepare_request(self, request: requests.Request) -> requests.PreparedRequest:
        if self.trust_env and not request.auth and not self.auth:
            parts = urlsplit(request.url)
            key = (parts.scheme, parts.netloc)
            if key not in self._netrc:
                self._netrc[key] = requests.utils.get_netrc_auth(request.url) or _NO_AUTH
            request.auth = self._netrc[key]
        return super().prepare_request(request)

    def merge_environment_settings(self, url, proxies, stream, verify, cert):  # noqa: ANN001, ANN201
        if proxies or not self.trust_env:
            return super().merge_environment_settings(url, proxies, stream, verify, cert)
        parts = urlsplit(url)
        key = (parts.scheme, parts.netloc, stream, verify, cert)
        merged = self._environment.get(key)
        if merged is None:
            merged = super().merge_environment_settings(url, {}, stream, verify, cert)
            self._environment[key] = merged
        return {**merged, "proxies": dict(merged["proxies"])}


def url_refusal(url: str, allow: list[str]) -> str:
    """Why `url` may not be fetched ("" when it may): "url" (not http(s) with a host), "userinfo"
    (credentials in it) or "host" (its host, or host:port, not in `allow`; empty allows none)."""
    try:
        parsed = urlsplit(url)
        port = parsed.port
    except ValueError:
        return "url"
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        return "url"
    if parsed.username or parsed.password:
        return "userinfo"
    host = parsed.hostname.lower()
    allowed = {h.lower() for h in allow}
    if host not in allowed and (port is None or f"{host}:{port}" not in allowed):
        return "host"
    return ""


@dataclass
class Fetched:
    status: int
    body: bytes             # at most `cap` + 1 bytes: one more than the cap says it was longer
    encoding: str | None
    location: str           # a redirect's target, never followed here
    content_type: str


def fetch_capped(method: str, url: str, cap: int, timeout: float, data: bytes | None = None,
                 headers: dict[str, str] | None = None) -> Fetched:
    """One request that follows no redirect (it could leave the allow list) and reads no more than
    `cap` + 1 bytes of the answer: a huge answer never lands in memory. requests' exceptions go to
    the caller, who says what failed in its own words."""
    with requests.request(method, url, data=data, headers=headers, timeout=timeout, allow_redirects=False,
                          stream=True) as resp:
        body = resp.raw.read(cap + 1, decode_content=True)
        return Fetched(resp.status_code, body, resp.encoding, resp.headers.get("Location", ""),
                       resp.headers.get("Content-Type", ""))
