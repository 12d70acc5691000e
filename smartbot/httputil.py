"""Small HTTP helpers shared by channels and model providers (neither may import the other)."""
from __future__ import annotations

import email.utils
import time
from typing import Any
from urllib.parse import urlsplit

import requests


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
