"""Reply URLs that arrive inside a callback (DingTalk's sessionWebhook), checked as the HTTP client reads them.

Such a URL decides where a reply goes, command output included, and the callback that carries it
may be forged (DingTalk signs only the timestamp). Python's `urlparse` and the `requests`/urllib3
stack that sends the reply read some URLs differently: `http://evil\\@oapi.dingtalk.com/` is host
`oapi.dingtalk.com` to one and `evil` to the other. So the check runs on the URL exactly as
`requests` prepares it (urllib3's parser), the caller sends to that prepared form and nothing else,
and anything a parser could read two ways is refused outright: characters outside printable ASCII,
whitespace, backslashes, `@` anywhere, userinfo, fragments.

An allowed origin is written as a bare host (`oapi.dingtalk.com`: https on the default port only)
or, for a local proxy or a test server, as `http(s)://host[:port]` (plain http only on loopback).
Never logs or returns a URL's path or query: a session webhook is a credential.
"""
from __future__ import annotations

from dataclasses import dataclass

import requests
from urllib3.util import parse_url

from ...errors import ConfigError

MAX_URL_LENGTH = 2048
DEFAULT_PORTS = {"https": 443, "http": 80}
LOOPBACK_HOSTS = {"127.0.0.1", "localhost", "[::1]"}


class ReplyURLRefused(ValueError):
    """The URL is not one replies may go to; `str()` says why without repeating the URL."""


@dataclass(frozen=True)
class Origin:
    scheme: str
    host: str
    port: int

    def __str__(self) -> str:
        default = DEFAULT_PORTS[self.scheme] == self.port
        return f"{self.scheme}://{self.host}" + ("" if default else f":{self.port}")


def parse_origins(entries: list[str], key: str) -> list[Origin]:
    """The allowed origins of a setting such as channels.dingtalk.session_webhook_hosts, or
    ConfigError naming `key` and the forms it takes."""
    fix = ('write bare host names such as "oapi.dingtalk.com" (https, default port), or an origin '
           'such as "http://127.0.0.1:8080" for a local proxy or test server')
    origins = []
    for i, entry in enumerate(entries):
        text = entry.strip().lower()
        where = f"{key}[{i}]"
        if not _plain(text):
            raise ConfigError(where, f"{entry!r} holds characters a host name cannot have", fix)
        try:
            url = parse_url(text if "://" in text else f"https://{text}")
        except ValueError:
            raise ConfigError(where, f"{entry!r} is not a host name or origin", fix) from None
        if (url.scheme not in DEFAULT_PORTS or not url.host or url.auth or url.path not in (None, "", "/")
                or url.query is not None or url.fragment is not None):
            raise ConfigError(where, f"{entry!r} is not a host name or origin", fix)
        if url.scheme == "http" and url.host not in LOOPBACK_HOSTS:
            raise ConfigError(where, f"{entry!r} would send replies unencrypted",
                              "use https, or a bare host name; plain http is allowed only on 127.0.0.1 / localhost")
        origins.append(Origin(url.scheme, url.host, url.port or DEFAULT_PORTS[url.scheme]))
    return origins


def checked(url: object, allowed: list[Origin]) -> str:
    """`url` as `requests` will send it, when it is an allowed origin's; ReplyURLRefused otherwise.
    Send to the returned string, never to the original."""
    if not isinstance(url, str) or not url:
        raise ReplyURLRefused("it is not a URL")
    if len(url) > MAX_URL_LENGTH:
        raise ReplyURLRefused(f"it is longer than {MAX_URL_LENGTH} characters")
    if not _plain(url):
        raise ReplyURLRefused("it holds whitespace, control or non-ASCII characters")
    for char, name in (("\\", "a backslash"), ("@", "an '@'"), ("#", "a fragment")):
        if char in url:
            raise ReplyURLRefused(f"it holds {name}")
    prepared = requests.PreparedRequest()
    try:
        prepared.prepare_url(url, None)
        parsed = parse_url(prepared.url or "")
    except (requests.RequestException, ValueError):
        raise ReplyURLRefused("it does not parse as a URL") from None
    scheme, host = parsed.scheme or "", parsed.host or ""
    if parsed.auth is not None or scheme not in DEFAULT_PORTS:
        raise ReplyURLRefused("it is not an http(s) URL without user information")
    origin = Origin(scheme, host, parsed.port or DEFAULT_PORTS[scheme])
    if origin not in allowed:
        raise ReplyURLRefused(f"its origin {str(origin)[:120]} is not allowed (a bare host name allows https on "
                              "the default port only)")
    return str(prepared.url)


def _plain(text: str) -> bool:
    """Printable ASCII without spaces: nothing a parser might drop, fold or map to something else."""
    return all("!" <= char <= "~" for char in text)
