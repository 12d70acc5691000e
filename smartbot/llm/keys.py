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

from ..i18n.reasons import reason
from .base import ProviderSpec

DEFAULT_KEY_PATTERNS = ("*_API_KEY",)
DEFAULT_PORTS = {"http": 80, "https": 443}
_HOST = re.compile(r"[a-z0-9](?:[a-z0-9.\-]*[a-z0-9])?|\[[0-9a-f:.]+\]")
_UNSAFE = re.compile(r"[\s\\\x00-\x1f\x7f]")


def base_url_problem(url: str) -> str:
    """Why `url` cannot be a provider's base_url ("" when it can)."""
    if _UNSAFE.search(url):
        return reason("reason.url.unsafe")
    if "?" in url or "#" in url:
        return reason("reason.url.query")
    try:
        parsed = parse_url(url)
    except LocationParseError:
        return reason("reason.url.unreadable")
    if parsed.scheme not in DEFAULT_PORTS:
        return reason("reason.url.scheme")
    if parsed.auth is not None:
        return reason("reason.url.userinfo")
    if not parsed.host or not _HOST.fullmatch(parsed.host):
        return reason("reason.url.host")
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
            return reason("reason.key.server_secret", variable=variable)
        if not any(fnmatchcase(variable, pattern) for pattern in self.patterns):
            return reason("reason.key.not_provider_key", variable=variable, patterns=' or '.join(self.patterns))
        return ""


def sharing_problem(variable: str, url: str, others: Iterable[tuple[str, str, str]]) -> str:
    """Why `variable` may not be used at `url` given the other providers' (name, variable,
    base_url): another provider's key goes only where that provider sends it."""
    wanted = origin(url)
    for name, other_variable, other_url in others:
        if other_variable == variable and origin(other_url) != wanted:
            return reason("reason.key.shared", variable=variable, name=repr(name), origin=origin(other_url))
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
        return reason("reason.key.withheld", variable=spec.api_key_env,
                      confirmed=spec.key_origin or reason("reason.key.no_address"),
                      now=now or reason("reason.key.unreadable_address"))
    return ""
