"""Outbound HTTP for channels: pooled sessions, and requests' errors turned into DeliveryError.

Nothing above channels/ ever sees a `requests` exception. Retries belong to the outbox, so the
sessions here never retry on their own.
"""
from __future__ import annotations

from typing import Any

import requests
from requests.adapters import HTTPAdapter

from ..errors import DeliveryError
from ..httputil import retry_after_seconds


def pooled_session(pool_size: int = 32) -> requests.Session:
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=4, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    session.headers["User-Agent"] = "SmartBot"
    return session


def request(session: requests.Session, method: str, url: str, *, timeout: tuple[float, float],
            answer_client_errors: bool = False, **kwargs: Any) -> requests.Response:
    """One HTTP call; raises DeliveryError for network errors, 429, 5xx and other 4xx answers.

    With `answer_client_errors`, 4xx answers (429 too) are returned instead: platforms such as
    Feishu and DingTalk put the reason (token expired, rate limited) in the body's own error code.
    """
    try:
        resp = session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise DeliveryError(f"timed out calling {_host(url)}", retryable=True) from None
    except requests.RequestException as exc:
        raise DeliveryError(f"could not reach {_host(url)}: {type(exc).__name__}", retryable=True) from None
    if answer_client_errors and 400 <= resp.status_code < 500 and resp.status_code != 408:
        return resp
    if resp.status_code == 429:
        raise DeliveryError(f"{_host(url)} is rate limiting (429)", retryable=True,
                            retry_after=retry_after_seconds(resp.headers.get("Retry-After")))
    if resp.status_code >= 500 or resp.status_code == 408:
        raise DeliveryError(f"{_host(url)} answered {resp.status_code}", retryable=True,
                            retry_after=retry_after_seconds(resp.headers.get("Retry-After")))
    if resp.status_code >= 400:
        raise DeliveryError(f"{_host(url)} refused the message ({resp.status_code})", retryable=False)
    return resp


def _host(url: str) -> str:
    from urllib.parse import urlparse

    return urlparse(url).netloc or "the platform"
