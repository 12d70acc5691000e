"""Which API key a provider may send, and where: the rules that keep a key variable from becoming
a way to send any server secret to any URL.

- A provider's `base_url` is read with the parser the HTTP client uses (urllib3's `parse_url`,
  what requests prepares every URL with): http or https, a plain host, no userinfo, no query,
  no fragment, no backslash or whitespace, so the host and path we check are the ones called.
- A provider made at run time may name only a provider key variable (`*_API_KEY` by default,
  `[security] provider_key_envs`), never one of SmartBot's own (its settings, signing key,
  database URL, a channel's secret); a [[providers]] entry of the file keeps its own variable.
- A variable another provider uses may be shared only at that provider's origin.
- The key goes only to the origin it was confirmed for (`ProviderSpec.key_origin`): moving
  `base_url` elsewhere withholds the key until someone confirms it for the new origin.

Plain data in, reasons out: no settings, no Flask, no database. A reason never holds a key.
"""
from __future__ import annotations

import re
from dataclasses import dataclass
from fnmatch import fnmatchcase
from typing import Callable, Iterable

from urllib3.exceptions import LocationParseError
from urllib3.util import parse_url

from .base import ProviderSpec

DEFAULT_KEY_PATTERNS = ("*_API_KEY",)
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?|\[[0-9a-f:.]+\]")
_UNSAFE = re.compile(r"[\s\\\x00-\x1f\x7f]")


def base_url_problem(url: str) -> str:
    """Why `url` cannot be a provider's base_url ("" when it can)."""
    if _UNSAFE.search(url):
        return "must not contain a backslash, whitespace or control characters"
    if "?" in url or "#" in url:
        return "must not contain a query (?) or a fragment (#): the API's paths are appended to it"
    try:
        parsed = parse_url(url)
    except LocationParseError:
        return "is not a URL the HTTP client can read (check the host and port)"
    if parsed.scheme not in DEFAULT_PORTS:
        return "must be an http(s) URL like https://api.example.com/v1"
    if parsed.auth is not None:
        return "must not carry a user name or password (user@host): the key comes from api_key_env"
    if not parsed.host or not _HOST.fullmatch(parsed.host):
        return "must name a host, like https://api.example.com/v1"
    return ""


def origin(url: str) -> str:
    """scheme://host:port of `url`, as the HTTP client reads it ("" when it cannot be read)."""
    try:
        parsed = parse_url(url)
    except LocationParseError:
        return ""
    if parsed.scheme not in DEFAULT_PORTS or not parsed.host:
        return ""
    return f"{parsed.scheme}://{parsed.host}:{parsed.port or DEFAULT_PORTS[parsed.scheme]}"


@dataclass(frozen=True)
class KeyRules:
    """The deployment's rules for provider key variables (built from the settings at start)."""

    patterns: tuple[str, ...] = DEFAULT_KEY_PATTERNS
    is_server_secret: Callable[[str], bool] = lambda name: False
    file_variables: frozenset[str] = frozenset()    # the [[providers]]' own api_key_env

    def variable_problem(self, variable: str) -> str:
        """Why a provider made at run time may not read its key from `variable` ("" when it may).
        A file provider's variable is a provider key too: sharing it is checked by origin."""
        if self.is_server_secret(variable) and variable not in self.file_variables:
            return (f"{variable} belongs to SmartBot itself (its settings, signing key, database or a channel's "
                    "secret) and is never sent to a provider; put the API key in a variable of its own")
        if not any(fnmatchcase(variable, pattern) for pattern in self.patterns):
            return (f"{variable} is not a provider key variable: use a name matching "
                    f"{' or '.join(self.patterns)} (the operator can list others in [security] provider_key_envs)")
        return ""


def sharing_problem(variable: str, url: str, others: Iterable[tuple[str, str, str]]) -> str:
    """Why `variable` may not be used at `url` given the other providers' (name, variable,
    base_url): another provider's key goes only where that provider sends it."""
    wanted = origin(url)
    for name, other_variable, other_url in others:
        if other_variable == variable and origin(other_url) != wanted:
            return (f"{variable} is the key of provider {name!r}, which sends it to "
                    f"{origin(other_url)}; it may be shared only at that same address")
    return ""


def withheld_reason(spec: ProviderSpec, rules: KeyRules) -> str:
    """Why `spec`'s key must not be sent with its calls ("" when it may): checked where the key is
    read, so a row written before these rules, or straight into the database, is held to them too."""
    if not spec.api_key_env:
        return ""
    if not spec.from_file:
        problem = rules.variable_problem(spec.api_key_env)
        if problem:
            return problem
    now = origin(spec.base_url)
    if not now or now != spec.key_origin:
        confirmed = spec.key_origin or "no address"
        return (f"the key in {spec.api_key_env} was confirmed for {confirmed}, and base_url now points to "
                f"{now or 'an unreadable address'}: it is not sent there until confirmed "
                "(PATCH the provider with confirm_key: true, or the admin page's confirm box)")
    return ""
