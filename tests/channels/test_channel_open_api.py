"""The access token cache shared by Feishu, DingTalk and WeCom: one fetch for all threads, refreshed
early, replaced once when the platform rejects it. The fetch function stands in for the platform's
token endpoint (the channel tests use the real endpoints of the fake platforms)."""
from __future__ import annotations

import threading
import time

import pytest

from smartbot.channels.support.open_api import AccessTokenCache, TokenRejected, with_token
from smartbot.errors import DeliveryError


class Issuer:
    """A token endpoint: hands out numbered tokens, slowly, and counts the calls."""

    def __init__(self, lifetime: float = 7200, delay: float = 0.0) -> None:
        self.lifetime, self.delay, self.calls = lifetime, delay, 0
        self._lock = threading.Lock()

    def __call__(self) -> tuple[str, float]:
        time.sleep(self.delay)
        with self._lock:
            self.calls += 1
            return f"token-{self.calls}", self.lifetime


def test_concurrent_first_use_fetches_once():
    issuer = Issuer(delay=0.2)
    cache = AccessTokenCache("test", issuer)
    got: list[str] = []
    threads = [threading.Thread(target=lambda: got.append(cache.get())) for _ in range(16)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert issuer.calls == 1 and set(got) == {"token-1"}


def test_token_is_refreshed_before_its_lifetime_ends():
    now = [1000.0]
    issuer = Issuer(lifetime=7200)
    cache = AccessTokenCache("test", issuer, clock=lambda: now[0])
    assert cache.get() == "token-1"
    now[0] += 7200 - 301          # more than 5 minutes left: reused
    assert cache.get() == "token-1"
    now[0] += 2                   # less than 5 minutes left: replaced before it expires
    assert cache.get() == "token-2"


def test_rejected_token_is_replaced_once_and_a_second_rejection_is_retryable():
    issuer = Issuer()
    cache = AccessTokenCache("test", issuer)
    seen: list[str] = []

    def reject_first(token: str) -> str:
        seen.append(token)
        if token == "token-1":
            raise TokenRejected("expired")
        return "sent"

    assert with_token(cache, reject_first) == "sent" and seen == ["token-1", "token-2"]

    def always_reject(token: str) -> str:
        raise TokenRejected("expired")

    with pytest.raises(DeliveryError) as err:
        with_token(cache, always_reject)
    assert err.value.retryable and issuer.calls == 3      # one new token per call, not a loop


def test_invalidate_keeps_a_token_another_thread_already_replaced():
    cache = AccessTokenCache("test", Issuer())
    old = cache.get()
    cache.invalidate(old)
    new = cache.get()
    cache.invalidate(old)           # a late rejection of the old token must not drop the new one
    assert cache.get() == new != old
