"""Outbound HTTP for channels: pooled sessions, and requests' errors turned into DeliveryError.

Nothing above channels/ ever sees a `requests` exception. Retries belong to the outbox, so the
sessions here never retry on their own. Error reasons name the host only, never the URL: some
platforms (Telegram, Discord follow-ups) carry a credential in the path.
"""
from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import requests
from requests.adapters import HTTPAdapter

from ...errors import DeliveryError
from ...httputil import EnvironmentOnceSession, retry_after_seconds


def pooled_session(pool_size: int = 32) -> requests.Session:
    session = EnvironmentOnceSession()
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
    resp = exchange(session, method, url, timeout=timeout, **kwargs)
    if answer_client_errors and 400 <= resp.status_code < 500 and resp.status_code != 408:
        return resp
    raise_for_status(resp, url)
    return resp


def exchange(session: requests.Session, method: str, url: str, *, timeout: tuple[float, float],
             **kwargs: Any) -> requests.Response:
    """One HTTP call whose answer the caller reads itself (platforms that put errors in the body);
    only network errors raise (retryable DeliveryError)."""
    try:
        return session.request(method, url, timeout=timeout, **kwargs)
    except requests.Timeout:
        raise DeliveryError(f"timed out calling {host(url)}", retryable=True) from None
    except requests.RequestException as exc:
        raise DeliveryError(f"could not reach {host(url)}: {type(exc).__name__}", retryable=True) from None


def raise_for_status(resp: requests.Response, url: str, detail: str = "",
                     retry_after: float | None = None) -> None:
    """DeliveryError for 408/429/5xx (retryable) and other 4xx (not); `detail` is the platform's reason."""
    if resp.status_code >= 400:
        if retry_after is None:
            retry_after = retry_after_seconds(resp.headers.get("Retry-After"))
        raise error_for(resp.status_code, url, detail, retry_after)


def error_for(status: int, url: str, detail: str = "", retry_after: float | None = None) -> DeliveryError:
    """The DeliveryError for an HTTP-style error status (also for errors a platform reports in the body)."""
    suffix = f": {detail}" if detail else ""
    if status == 429:
        return DeliveryError(f"{host(url)} is rate limiting (429){suffix}", retryable=True, retry_after=retry_after)
    if status >= 500 or status == 408:
        return DeliveryError(f"{host(url)} answered {status}{suffix}", retryable=True, retry_after=retry_after)
    return DeliveryError(f"{host(url)} refused the message ({status}){suffix}", retryable=False)


def json_body(resp: requests.Response) -> dict[str, Any]:
    """The answer as a JSON object, or {} when it is not one (an HTML error page, an empty 204)."""
    try:
        data = resp.json()
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def host(url: str) -> str:
    return urlparse(url).netloc or "the platform"
