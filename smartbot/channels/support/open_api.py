"""Calling a platform's open API with an access token: the token cache, and JSON error answers.

Feishu (tenant_access_token), DingTalk (accessToken) and WeCom (access_token) all hand out a token
that lives about two hours. Each channel keeps one `AccessTokenCache` per process: one fetch
serves every thread, and a new token is fetched shortly before the old one runs out. When the
platform rejects a token anyway (revoked, or another process fetched a new one), `with_token`
fetches a fresh one and tries once more. A token is a secret: it never appears in a log line,
an error message or an exception.
"""
from __future__ import annotations

import logging
import threading
import time
from typing import Any, Callable, TypeVar

import requests

from ...errors import DeliveryError
from ...httputil import retry_after_seconds

log = logging.getLogger(__name__)

T = TypeVar("T")
Fetch = Callable[[], tuple[str, float]]      # -> (token, lifetime in seconds)


class TokenRejected(DeliveryError):
    """The platform said the access token is expired or invalid; a fresh one may work."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason, retryable=True)


class AccessTokenCache:
    """One access token shared by all threads of a process, refreshed before it expires."""

    def __init__(self, name: str, fetch: Fetch, refresh_early: float = 300.0,
                 clock: Callable[[], float] = time.monotonic) -> None:
        self.name = name
        self._fetch = fetch
        self._refresh_early = refresh_early
        self._clock = clock
        self._token = ""
        self._refresh_at = 0.0
        self._lock = threading.Lock()

    def get(self) -> str:
        """The current token; fetched when there is none or it is about to expire."""
        with self._lock:
            if not self._token or self._clock() >= self._refresh_at:
                token, lifetime = self._fetch()
                if not token:
                    raise DeliveryError(f"{self.name}: the platform answered without a token", retryable=True)
                # Refresh early (5 minutes, or a fifth of a short lifetime) so no request carries
                # a token that expires on its way.
                early = min(self._refresh_early, max(lifetime, 0.0) / 5)
                self._token, self._refresh_at = token, self._clock() + max(lifetime - early, 0.0)
                log.info("%s: fetched a new access token (valid %.0f s)", self.name, lifetime)
            return self._token

    def invalidate(self, token: str) -> None:
        """Forget `token`, unless another thread has already replaced it."""
        with self._lock:
            if self._token == token:
                self._token = ""


def with_token(tokens: AccessTokenCache, call: Callable[[str], T]) -> T:
    """Run `call(token)`; when the platform rejects the token, fetch a new one and try once more."""
    token = tokens.get()
    try:
        return call(token)
    except TokenRejected as exc:
        log.info("%s: access token rejected (%s); fetching a new one", tokens.name, exc.reason)
        tokens.invalidate(token)
    return call(tokens.get())


def json_object(resp: requests.Response, platform: str) -> dict[str, Any]:
    """The JSON object a platform answered, or a DeliveryError saying what came instead."""
    try:
        data = resp.json()
    except ValueError:
        data = None
    if isinstance(data, dict):
        return data
    if resp.status_code >= 400:
        raise DeliveryError(f"{platform} refused the message ({resp.status_code})", retryable=resp.status_code == 429,
                            retry_after=retry_after_seconds(resp.headers.get("Retry-After")))
    raise DeliveryError(f"{platform} answered {resp.status_code} without a JSON object", retryable=True)
